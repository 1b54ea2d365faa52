// RoPE scaling: what config.json's `rope_scaling` block says (kernels/rope_frequencies.h turns it
// into the inverse frequencies and the cos/sin factor, as Hugging Face's modeling_rope_utils.py).
//
// The default frequencies are inv_freq[i] = 1 / theta^(2i/d), i < d/2, in fp32. The types:
//   linear   inv_freq / factor                         (position interpolation)
//   dynamic  NTK-aware: theta' = theta·(factor·L/L0 − (factor − 1))^(d/(d−2)) once a sequence
//            runs past L0 = max_position_embeddings; pocket never runs a position past L0 (a
//            longer input is an error), and for L ≤ L0 HF uses the default frequencies, so the
//            table is the default one, exactly as HF computes it for every input pocket accepts
//   llama3   Llama 3.1/3.2: with L0 = original_max_position_embeddings and wavelength
//            λ = 2π / inv_freq: λ < L0/high_freq_factor keeps inv_freq, λ > L0/low_freq_factor
//            takes inv_freq / factor, and between the two
//            (1 − s)·inv_freq/factor + s·inv_freq, s = (L0/λ − low) / (high − low)
//   yarn     YaRN (transformers 5's semantics): interpolated 1/(factor·theta^(2i/d)) and
//            extrapolated 1/theta^(2i/d) blended by a linear ramp over the dimensions between the
//            correction range of beta_fast and beta_slow rotations within L0; cos and sin are
//            multiplied by attention_factor (default 0.1·ln(factor) + 1, or the mscale ratio)
// The fp32 operations follow torch's order (a scalar divided by a tensor is its reciprocal times
// the scalar), so the values agree with HF's to the last bit or nearly.
#pragma once

#include <cstdint>

namespace pocket {

enum class RopeScalingType : std::uint8_t { kNone, kLinear, kDynamic, kLlama3, kYarn };

const char* rope_scaling_name(RopeScalingType type);  // as config.json's rope_type spells it

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;               // llama3
  double high_freq_factor = 4.0;              // llama3
  std::int64_t original_max_positions = 0;    // llama3, yarn (0: max_position_embeddings)
  double attention_factor = 0.0;              // yarn: 0 = from factor (and mscale)
  double mscale = 0.0, mscale_all_dim = 0.0;  // yarn (DeepSeek style); 0 = absent
  double beta_fast = 32.0, beta_slow = 1.0;   // yarn
  bool truncate = true;                       // yarn: correction range rounded outwards
};

}  // namespace pocket
