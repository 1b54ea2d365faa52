// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
// (nucleus), driven by a counter-based random stream so the same seed gives the same text.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace pocket {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy (argmax)
  std::int64_t top_k = 40;   // keep the k most likely tokens (0: all)
  float top_p = 0.95f;       // then the smallest prefix whose probability reaches p (1: all)
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  // All buffers are sized here for `vocab` tokens: sample() allocates nothing.
  Sampler(std::int64_t vocab, const SamplerOptions& options);

  // The token for decoding step `step` (0, 1, ...). Greedy: the largest logit, the lowest id on
  // ties. Sampling: p_i ∝ exp((l_i − max l) / T) over the top-k, renormalised over the top-p
  // nucleus, drawn with u = uniform[0,1) from mix64(seed, step).
  std::int32_t sample(const float* logits, std::uint64_t step);

  const SamplerOptions& options() const { return options_; }

 private:
  std::int64_t vocab_;
  SamplerOptions options_;
  std::vector<std::pair<float, std::int32_t>> candidates_;
};

}  // namespace pocket
