// The pieces of gemm_quant.h's sum shared by the reference, the packer and the scalar
// micro-kernel: one 32-value block of W decoded to unsigned bytes and scales, and the fp32 step
// that adds a block's integer dot product to an output.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/weight_view.h"

namespace pocket::gemm_detail {

// Block `b` (of 32 values) of a W row in a block format, as the packed panel holds it.
struct QuantBlock32 {
  std::uint8_t q[32];                  // Q8_0: int8 bits; Q4_0, Q4_K: 0..15; Q6_K: 0..63
  float scale = 0;                     // Q8_0, Q4_0, Q6_K: d; Q4_K: d·sc (exact)
  float min = 0;                       // Q4_K: dmin·m (exact)
  std::int32_t sub_scale[2] = {0, 0};  // Q6_K: the scales of the two 16-value halves
};

// Q4_K's 6-bit scale and min of sub-block j (as ggml's get_scale_min_k4).
inline void q4_k_scale_min(const std::uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

inline QuantBlock32 decode_block32(WeightFormat format, const void* row, std::int64_t b) {
  QuantBlock32 out;
  switch (format) {
    case WeightFormat::kQ8_0: {
      const auto& blk = static_cast<const BlockQ8_0*>(row)[b];
      for (int i = 0; i < 32; ++i) out.q[i] = static_cast<std::uint8_t>(blk.qs[i]);
      out.scale = f16_to_f32_scalar(blk.d);
      break;
    }
    case WeightFormat::kQ4_0: {
      const auto& blk = static_cast<const BlockQ4_0*>(row)[b];
      for (int i = 0; i < 16; ++i) {
        out.q[i] = blk.qs[i] & 0xF;
        out.q[i + 16] = blk.qs[i] >> 4;
      }
      out.scale = f16_to_f32_scalar(blk.d);
      break;
    }
    case WeightFormat::kQ4_K: {
      // Super-block b/8; its sub-block j = b%8 is the low (j even) or high (j odd) nibbles of
      // the 32 bytes qs[32·(j/2) ..].
      const auto& blk = static_cast<const BlockQ4_K*>(row)[b / 8];
      const int j = static_cast<int>(b % 8);
      const std::uint8_t* qs = blk.qs + 32 * (j / 2);
      for (int i = 0; i < 32; ++i) out.q[i] = (j % 2 == 0 ? qs[i] : qs[i] >> 4) & 0xF;
      int sc, m;
      q4_k_scale_min(blk.scales, j, sc, m);
      out.scale = f16_to_f32_scalar(blk.d) * static_cast<float>(sc);
      out.min = f16_to_f32_scalar(blk.dmin) * static_cast<float>(m);
      break;
    }
    case WeightFormat::kQ6_K: {
      // Value v of a super-block: half h = v/128, group g = (v%128)/32, l = v%32;
      //   low 4 bits: ql[64h + l + 32·(g%2)] (g < 2: low nibble, else high),
      //   high 2 bits: qh[32h + l] >> 2g;  scale: scales[v/16].
      const auto& blk = static_cast<const BlockQ6_K*>(row)[b / 8];
      const int v0 = static_cast<int>(b % 8) * 32;
      const int h = v0 / 128, g = (v0 % 128) / 32;
      for (int l = 0; l < 32; ++l) {
        const std::uint8_t lo = blk.ql[64 * h + l + 32 * (g % 2)];
        const int low4 = g < 2 ? lo & 0xF : lo >> 4;
        const int high2 = (blk.qh[32 * h + l] >> (2 * g)) & 3;
        out.q[l] = static_cast<std::uint8_t>(low4 | (high2 << 4));
      }
      out.scale = f16_to_f32_scalar(blk.d);
      out.sub_scale[0] = blk.scales[v0 / 16];
      out.sub_scale[1] = blk.scales[v0 / 16 + 1];
      break;
    }
    default:
      break;
  }
  return out;
}

// The integer dot product i of gemm_quant.h from the unsigned-byte dot products of the block's
// halves (dot0 = Σ_{l<16} q_l·x_l, dot1 over l ≥ 16; for Q8_0 the bytes as int8) and X's sums.
inline std::int32_t block_int_dot(WeightFormat format, std::int32_t dot0, std::int32_t dot1,
                                  std::int32_t xs0, std::int32_t xs1, const std::int32_t* sc) {
  switch (format) {
    case WeightFormat::kQ4_0:
      return dot0 + dot1 - 8 * (xs0 + xs1);
    case WeightFormat::kQ6_K:
      return sc[0] * (dot0 - 32 * xs0) + sc[1] * (dot1 - 32 * xs1);
    default:
      return dot0 + dot1;
  }
}

// acc + the block's fp32 term, in gemm_quant.h's order (the build has -ffp-contract=off).
inline float add_block_term(WeightFormat format, float acc, std::int32_t i, float scale, float min,
                            float dx, std::int32_t xs) {
  const float t = (scale * dx) * static_cast<float>(i);
  if (format == WeightFormat::kQ4_K) return acc + (t - (min * dx) * static_cast<float>(xs));
  return acc + t;
}

}  // namespace pocket::gemm_detail
