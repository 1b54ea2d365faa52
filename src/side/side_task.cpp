#include "side/side_task.h"

#include <cstdio>

#include "io/error.h"

namespace pocket {

void check_side_task(const SideTaskSpec& s, std::int64_t model_hidden, std::int64_t model_layers,
                     std::int64_t vocab) {
  if (s.hidden != model_hidden || s.n_vectors != model_layers + 1) {
    throw Error("task", "hidden states of " + std::to_string(s.n_vectors) + " x " +
                            std::to_string(s.hidden) + " do not fit the server's model (" +
                            std::to_string(model_layers + 1) + " x " +
                            std::to_string(model_hidden) + ")");
  }
  if (s.act_bits != 8 && s.act_bits != 4) throw Error("task", "act_bits must be 8 or 4");
  if (!s.lm && s.candidates.size() < 2) throw Error("task", "classification needs two classes or more");
  if (s.lm && !s.candidates.empty()) throw Error("task", "an lm task has no classes");
  for (std::int32_t c : s.candidates) {
    if (c < 0 || c >= vocab) throw Error("task", "class token id " + std::to_string(c) + " is not in the vocabulary");
  }
  if (s.n_train < 1) throw Error("task", "no training examples");
  if (s.n_dev < 0 || s.n_train > (std::int64_t{1} << 40) || s.n_dev > (std::int64_t{1} << 40)) {
    throw Error("task", "example counts out of range");
  }
  if (s.reduction < 1 || s.hidden / s.reduction < 1) throw Error("task", "reduction must be in 1..hidden");
  if (s.epochs < 1 || s.epochs > 1000) throw Error("task", "epochs must be in 1..1000");
  if (s.batch < 1 || s.batch > 4096) throw Error("task", "batch must be in 1..4096");
  if (!(s.lr > 0.0f) || !(s.lr < 1.0f)) throw Error("task", "lr must be in (0, 1)");
}

std::string describe_side_task(const SideTaskSpec& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s, %lld train + %lld dev examples, %d-bit states %lld x %lld, reduction %lld, "
                "%lld epochs of %lld steps (batch %lld), lr %g, seed %llu",
                s.lm ? "lm" : (std::to_string(s.candidates.size()) + "-class classification").c_str(),
                static_cast<long long>(s.n_train), static_cast<long long>(s.n_dev), s.act_bits,
                static_cast<long long>(s.n_vectors), static_cast<long long>(s.hidden),
                static_cast<long long>(s.reduction), static_cast<long long>(s.epochs),
                static_cast<long long>(s.steps_per_epoch()), static_cast<long long>(s.batch),
                static_cast<double>(s.lr), static_cast<unsigned long long>(s.seed));
  return buf;
}

}  // namespace pocket
