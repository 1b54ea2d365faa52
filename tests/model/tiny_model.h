// Helpers of the model tests: a tiny random model of one family written to a directory
// (config.json + weights), and the logits of a sequence at every position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "model/model.h"
#include "model/random_model.h"

namespace pocket::test {

inline void make_tiny(Arch arch, const std::string& dir) {
  const ModelConfig c = shape_config(arch, "tiny");
  write_random_weights(c, 7, dir, 0.2f);
  write_file_atomic(dir + "/config.json", model_config_json(c));
}


// Logits at every position of one sequence of `ids`.
inline std::vector<float> all_logits(const Model& model, const std::vector<std::int32_t>& ids) {
  const auto T = static_cast<std::int64_t>(ids.size());
  SessionLimits limits;
  limits.max_len = T;
  limits.max_logit_rows = T;
  Session session(model, limits);
  std::vector<std::int64_t> rows(ids.size());
  for (std::int64_t t = 0; t < T; ++t) rows[t] = t;
  std::vector<float> logits(rows.size() * static_cast<std::size_t>(model.config().vocab_size));
  session.forward({1, T, ids.data(), nullptr}, rows.data(), T, logits.data());
  return logits;
}

}  // namespace pocket::test
