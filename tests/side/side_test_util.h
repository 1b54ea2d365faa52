// Helpers of the side-network tests: tiny random backbones of each head layout, and a central
// finite-difference gradient check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/model_config.h"
#include "model/random_model.h"

namespace pocket::test {

// The head layouts a FrozenHead must reproduce: pre-LN OPT (final LayerNorm), OPT with
// project_out (embed_dim 32 ≠ hidden 64), RoBERTa (MLM head, no final norm), Llama (RMSNorm,
// untied head).
enum class HeadKind { kOpt, kOptProject, kRoberta, kLlama };
inline const HeadKind kHeadKinds[] = {HeadKind::kOpt, HeadKind::kOptProject, HeadKind::kRoberta,
                                      HeadKind::kLlama};

inline const char* head_kind_name(HeadKind k) {
  switch (k) {
    case HeadKind::kOpt:
      return "opt";
    case HeadKind::kOptProject:
      return "opt project_out";
    case HeadKind::kRoberta:
      return "roberta";
    case HeadKind::kLlama:
      return "llama";
  }
  return "";
}

// A tiny random model of `kind` in `dir` (std 0.2, so that logits spread over whole units).
inline void make_head_model(HeadKind kind, const std::string& dir) {
  const Arch arch = kind == HeadKind::kRoberta ? Arch::kRoberta
                    : kind == HeadKind::kLlama ? Arch::kLlama
                                               : Arch::kOpt;
  ModelConfig c = shape_config(arch, "tiny");
  if (kind == HeadKind::kOptProject) c.embed_dim = 32;
  write_random_weights(c, 11, dir, 0.2f);
  write_file_atomic(dir + "/config.json", model_config_json(c));
}

// Central differences (step h) of loss() with respect to x[i] for each i in `indices`, against
// analytic[i]. Returns the worst |numeric − analytic| / max(|numeric|, |analytic|, floor).
inline double gradient_error(double* x, const double* analytic,
                             const std::vector<std::int64_t>& indices,
                             const std::function<double()>& loss, double h = 1e-6,
                             double floor = 1e-3) {
  double worst = 0.0;
  for (std::int64_t k : indices) {
    const double saved = x[k];
    x[k] = saved + h;
    const double plus = loss();
    x[k] = saved - h;
    const double minus = loss();
    x[k] = saved;
    const double numeric = (plus - minus) / (2.0 * h);
    const double scale = std::max({std::fabs(numeric), std::fabs(analytic[k]), floor});
    worst = std::max(worst, std::fabs(numeric - analytic[k]) / scale);
  }
  return worst;
}
inline double gradient_error(std::vector<double>& x, const std::vector<double>& analytic,
                             const std::vector<std::int64_t>& indices,
                             const std::function<double()>& loss) {
  return gradient_error(x.data(), analytic.data(), indices, loss);
}

inline std::vector<std::int64_t> all_indices(std::size_t n) {
  std::vector<std::int64_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::int64_t>(i);
  return v;
}

inline std::vector<double> random_doubles(std::size_t n, std::uint32_t seed, double lo = -1.0,
                                          double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace pocket::test
