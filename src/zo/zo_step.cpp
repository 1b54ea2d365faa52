#include "zo/zo_step.h"

#include <algorithm>
#include <cmath>

#include "io/error.h"
#include "kernels/fp16.h"
#include "kernels/zo_update.h"
#include "kernels/zrng.h"
#include "model/model_weights.h"
#include "zo/crash_point.h"

namespace pocket {

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard match with one backtracking point (the last '*'): linear in practice.
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

// The trainable tensors of `model`: every tensor the forward reads (model_tensor_specs), those
// matching a pattern when patterns are given.
std::vector<ZoParam> select_params(Model& model, const ZoOptions& options) {
  const ModelWeights& w = model.weights();
  std::vector<ZoParam> params;
  for (const TensorSpec& spec : model_tensor_specs(model.config())) {
    bool wanted = options.train_patterns.empty();
    for (const std::string& pattern : options.train_patterns) {
      if (glob_match(pattern, spec.name)) wanted = true;
    }
    if (!wanted) continue;
    ZoParam p;
    p.name = spec.name;
    p.pid = fnv1a64(spec.name);
    p.shape = spec.shape;
    p.numel = 1;
    for (std::int64_t dim : spec.shape) p.numel *= dim;
    p.decay = spec.shape.size() >= 2;
    for (const SmallTensor& t : w.small_tensors) {
      if (t.name == spec.name) {
        // A vector held in fp32 for the forward; RoBERTa's token-type table only by its row 0,
        // the only row a forward reads, so the only one perturbed and updated.
        p.small_offset = t.offset;
        p.numel = t.size;
      }
    }
    if (model.writable()) p.data = model.mutable_tensor(spec.name);
    params.push_back(std::move(p));
  }
  if (params.empty()) {
    std::string list;
    for (const std::string& pattern : options.train_patterns) list += " '" + pattern + "'";
    throw Error("--train", "no tensor of the model matches" + list);
  }
  return params;
}

}  // namespace

ZoTuner::ZoTuner(Model& model, const Task& task, const ZoOptions& options, std::int64_t batch,
                 std::int64_t longest)
    : model_(model),
      task_(task),
      options_(options),
      params_(select_params(model, options)),
      builder_(task, batch, longest),
      session_(std::make_unique<Session>(model, task_session_limits(builder_, 2))),
      loss_(task, builder_, model.config().vocab_size) {
  if (!(options.eps > 0.0) || !std::isfinite(options.eps)) {
    throw Error("--eps", "must be a positive number");
  }
  std::vector<std::uint64_t> frozen;
  for (const TensorSpec& spec : model_tensor_specs(model.config())) {
    const std::uint64_t pid = fnv1a64(spec.name);
    const bool trainable =
        std::any_of(params_.begin(), params_.end(), [&](const ZoParam& p) { return p.pid == pid; });
    if (!trainable) frozen.push_back(pid);
  }
  session_->set_frozen(std::move(frozen));
  if (options.master_f32) {
    for (ZoParam& p : params_) {
      if (p.data == nullptr) continue;
      p.master.resize(static_cast<std::size_t>(p.numel));
      f16_to_f32(p.data, p.master.data(), static_cast<std::size_t>(p.numel));
    }
  }
  eval_index_.resize(static_cast<std::size_t>(batch));
}

StepResult ZoTuner::step(const Dataset& data, const std::int64_t* index, std::int64_t n,
                         std::uint64_t step_seed, float lr) {
  const StepResult r = probe(data, index, n, step_seed);
  if (r.accepted) apply_update(step_seed, r.g, lr);
  return r;
}

StepResult ZoTuner::probe(const Dataset& data, const std::int64_t* index, std::int64_t n,
                          std::uint64_t step_seed) {
  builder_.build(data, index, n);
  loss_.begin(builder_, 2);
  StreamPerturbation perturbation;
  perturbation.seed = step_seed;
  perturbation.eps = static_cast<float>(options_.eps);
  session_->forward_chunks(builder_.batch(), builder_.rows(), builder_.n_rows(), loss_,
                           &perturbation);
  StepResult r;
  r.loss_plus = loss_.loss(0);
  r.loss_minus = loss_.loss(1);
  const double g = (r.loss_plus - r.loss_minus) / (2.0 * static_cast<double>(perturbation.eps));
  r.g = static_cast<float>(g);
  r.accepted = std::isfinite(r.loss_plus) && std::isfinite(r.loss_minus) && std::isfinite(r.g);
  return r;
}

// W <- round16(W - lr (g z + lambda W)) per trainable tensor (kernels/zo_update.h), then the fp32
// copies of updated vectors are refreshed from the fp16 the checkpoint now holds.
void ZoTuner::apply_update(std::uint64_t step_seed, float g, float lr) {
  if (!model_.writable()) throw Error(model_.dir(), "model opened read-only: cannot update");
  std::vector<float>& small = model_.small();
  std::size_t done = 0;
  for (ZoParam& p : params_) {
    if (++done == params_.size() / 2 + 1) crash_point("update", crash_step_);
    ZoUpdate u;
    u.z_key = z_key(step_seed, p.pid);
    u.sr_key = sr_key(step_seed, p.pid);
    u.lr = lr;
    u.grad = g;
    u.weight_decay = p.decay ? static_cast<float>(options_.weight_decay) : 0.0f;
    const std::size_t n = static_cast<std::size_t>(p.numel);
    if (options_.master_f32) {
      zo_update_f32_master(p.master.data(), p.data, n, u);
    } else {
      zo_update_f16(p.data, n, u);
    }
    if (p.small_offset >= 0) f16_to_f32(p.data, small.data() + p.small_offset, n);
  }
}

void ZoTuner::refresh_small() {
  std::vector<float>& small = model_.small();
  for (const ZoParam& p : params_) {
    if (p.small_offset >= 0 && p.data != nullptr) {
      f16_to_f32(p.data, small.data() + p.small_offset, static_cast<std::size_t>(p.numel));
    }
  }
}

EvalResult ZoTuner::evaluate(const Dataset& data) {
  return evaluate_dataset(*session_, builder_, loss_, task_, data, eval_index_);
}

}  // namespace pocket
