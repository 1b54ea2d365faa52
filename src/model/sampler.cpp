#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "io/error.h"
#include "kernels/zrng.h"

namespace pocket {

Sampler::Sampler(std::int64_t vocab, const SamplerOptions& options)
    : vocab_(vocab), options_(options), candidates_(static_cast<std::size_t>(vocab)) {
  if (vocab < 1) throw Error("sampler", "empty vocabulary");
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    throw Error("--top-p", "must be in (0, 1]");
  }
  if (options.top_k < 0) throw Error("--top-k", "must be >= 0");
  if (!std::isfinite(options.temperature)) throw Error("--temp", "must be finite");
}

std::int32_t Sampler::sample(const float* logits, std::uint64_t step) {
  if (options_.temperature <= 0.0f) {
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < vocab_; ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return static_cast<std::int32_t>(best);
  }
  // Candidates sorted by logit, largest first (ties: lower id first, for determinism).
  for (std::int64_t i = 0; i < vocab_; ++i) {
    candidates_[static_cast<std::size_t>(i)] = {logits[i], static_cast<std::int32_t>(i)};
  }
  const auto before = [](const std::pair<float, std::int32_t>& a,
                         const std::pair<float, std::int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  const std::int64_t k =
      options_.top_k > 0 ? std::min<std::int64_t>(options_.top_k, vocab_) : vocab_;
  std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), before);

  // Softmax at temperature T over the k candidates (in place: first holds the probability).
  const float top = candidates_[0].first;
  double total = 0.0;
  for (std::int64_t i = 0; i < k; ++i) {
    auto& c = candidates_[static_cast<std::size_t>(i)];
    c.first = static_cast<float>(std::exp((c.first - top) / options_.temperature));
    total += c.first;
  }
  // Nucleus: the shortest prefix holding top_p of the mass.
  std::int64_t kept = k;
  double kept_mass = total;
  if (options_.top_p < 1.0f) {
    double mass = 0.0;
    for (std::int64_t i = 0; i < k; ++i) {
      mass += candidates_[static_cast<std::size_t>(i)].first;
      if (mass >= options_.top_p * total) {
        kept = i + 1;
        kept_mass = mass;
        break;
      }
    }
  }
  // u in [0, 1) from the top 53 bits of one word of the seed's stream.
  const std::uint64_t word = z_word(mix64(options_.seed ^ 0x53414D504C455253ull), step);
  const double u = static_cast<double>(word >> 11) * 0x1.0p-53;
  double target = u * kept_mass, mass = 0.0;
  for (std::int64_t i = 0; i < kept; ++i) {
    mass += candidates_[static_cast<std::size_t>(i)].first;
    if (target < mass) return candidates_[static_cast<std::size_t>(i)].second;
  }
  return candidates_[static_cast<std::size_t>(kept - 1)].second;
}

}  // namespace pocket
