// The inverse frequencies of RoPE (and YaRN's cos/sin factor) for a rope_scaling block
// (io/rope_scaling.h, which gives the math of each type), in fp32 as HF computes them.
#pragma once

#include <cstdint>
#include <vector>

#include "io/rope_scaling.h"

namespace pocket {

struct RopeFrequencies {
  std::vector<float> inv_freq;    // [head_dim / 2]
  float attention_factor = 1.0f;  // cos and sin are multiplied by it (1 but for yarn)
};

// inv_freq of `scaling` for a head of `head_dim` dimensions, base `theta`; max_positions is the
// config's max_position_embeddings (yarn's L0 when original_max_positions is 0).
RopeFrequencies rope_frequencies(int head_dim, float theta, const RopeScaling& scaling,
                                 std::int64_t max_positions);

}  // namespace pocket
