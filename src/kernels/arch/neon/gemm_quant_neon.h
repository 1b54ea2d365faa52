// The NEON integer GEMM micro-kernel (gemm_quant.h), written once over a Dot policy: sdot
// (gemm_quant_dotprod.cpp, ARMv8.2 dot product) or smull + addp + sadalp (gemm_quant_neon.cpp,
// any ARMv8).
// Tile: up to 4 X rows × 8 W rows (two registers of 4 int32 lanes, lane j = W row j). Per block of
// 32 values and X row, eight steps of 4 values: the panel's 16 bytes per register (4 bytes of each
// of 4 rows) against the X row's 4 bytes t of the block, an exact int32 dot product per lane; then
// gemm_quant.h's fp32 step on the 4 lanes at once, in its order (the build has -ffp-contract=off:
// vmulq/vaddq stay separate roundings).
// W's bytes are used as int8: Q8_0's are, and the unsigned q ≤ 63 of the other formats are the
// same values as int8, so every product is signed × signed.
// Registers: 8 int32 dots + 8 fp32 sums + 2 W + 4 X of the 32.
// Everything has internal linkage: each including file has its own copy, built with its flags.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "kernels/gemm_quant.h"

namespace pocket::neon {
namespace {

constexpr int kQuantMr = 4, kQuantNr = 8;
constexpr int kV = kQuantNr / 4;  // registers per panel step

// The four steps t = 4h..4h+3 of one block: x[i] holds X row i's 16 values of half h, and
// Dot::dot<L>(acc, w, x) = acc + each lane's Σ of 4 products w·x[4L..4L+3].
template <class Dot, int M>
inline void half_steps(const std::uint8_t* wq, int h, const int8x16_t (&x)[M],
                       int32x4_t (&idot)[M][kV]) {
  auto step = [&]<int L>() {
    int8x16_t wv[kV];
    for (int v = 0; v < kV; ++v) {
      wv[v] = vreinterpretq_s8_u8(vld1q_u8(wq + ((4 * h + L) * kQuantNr + 4 * v) * 4));
    }
    for (int i = 0; i < M; ++i) {
      for (int v = 0; v < kV; ++v) idot[i][v] = Dot::template dot<L>(idot[i][v], wv[v], x[i]);
    }
  };
  step.template operator()<0>();
  step.template operator()<1>();
  step.template operator()<2>();
  step.template operator()<3>();
}

template <class Dot, WeightFormat F, int M>
void ukernel_quant(const QuantPanel& w, const QuantRows& x, float* acc_out) {
  float32x4_t acc[M][kV];
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < kV; ++v) acc[i][v] = vdupq_n_f32(0.0f);
  }
  // The integer offset each lane starts from, per unit of the block's (or half's) Σ x_q.
  constexpr int offset = F == WeightFormat::kQ4_0 ? -8 : F == WeightFormat::kQ6_K ? -32 : 0;
  for (std::int64_t b = 0; b < w.n_blocks; ++b) {
    const std::uint8_t* wq = w.q + b * 8 * kQuantNr * 4;
    const std::int32_t* xs[M];
    for (int i = 0; i < M; ++i) xs[i] = x.sum16 + i * x.s_stride + 2 * b;
    int32x4_t idot[M][kV];
    for (int h = 0; h < 2; ++h) {
      int8x16_t xv[M];
      for (int i = 0; i < M; ++i) xv[i] = vld1q_s8(x.q + i * x.q_stride + b * 32 + 16 * h);
      if constexpr (F == WeightFormat::kQ6_K) {
        // Two halves of 16 values, each with its own int8 scale: i = sc₀·dot₀ + sc₁·dot₁.
        int32x4_t half[M][kV];
        for (int i = 0; i < M; ++i) {
          for (int v = 0; v < kV; ++v) half[i][v] = vdupq_n_s32(offset * xs[i][h]);
        }
        half_steps<Dot, M>(wq, h, xv, half);
        for (int v = 0; v < kV; ++v) {
          const int32x4_t sc = vld1q_s32(w.sub_scale + (2 * b + h) * kQuantNr + 4 * v);
          for (int i = 0; i < M; ++i) {
            idot[i][v] = h == 0 ? vmulq_s32(half[i][v], sc) : vmlaq_s32(idot[i][v], half[i][v], sc);
          }
        }
      } else {
        if (h == 0) {
          for (int i = 0; i < M; ++i) {
            for (int v = 0; v < kV; ++v) idot[i][v] = vdupq_n_s32(offset * (xs[i][0] + xs[i][1]));
          }
        }
        half_steps<Dot, M>(wq, h, xv, idot);
      }
    }
    // acc = acc + (scale·dx)·float(i)   [Q4_K: − (min·dx)·float(Σx)]
    for (int v = 0; v < kV; ++v) {
      const float32x4_t scale = vld1q_f32(w.scale + b * kQuantNr + 4 * v);
      for (int i = 0; i < M; ++i) {
        const float32x4_t dx = vdupq_n_f32(x.d[i * x.d_stride + b]);
        float32x4_t t = vmulq_f32(vmulq_f32(scale, dx), vcvtq_f32_s32(idot[i][v]));
        if constexpr (F == WeightFormat::kQ4_K) {
          const float32x4_t min = vld1q_f32(w.min + b * kQuantNr + 4 * v);
          const float sum = static_cast<float>(xs[i][0] + xs[i][1]);
          t = vsubq_f32(t, vmulq_f32(vmulq_f32(min, dx), vdupq_n_f32(sum)));
        }
        acc[i][v] = vaddq_f32(acc[i][v], t);
      }
    }
  }
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < kV; ++v) vst1q_f32(acc_out + i * kQuantNr + 4 * v, acc[i][v]);
  }
}

template <class Dot, WeightFormat F>
void ukernel_quant_rows(const QuantPanel& w, const QuantRows& x, int m, float* acc) {
  switch (m) {
    case 1:
      return ukernel_quant<Dot, F, 1>(w, x, acc);
    case 2:
      return ukernel_quant<Dot, F, 2>(w, x, acc);
    case 3:
      return ukernel_quant<Dot, F, 3>(w, x, acc);
    default:
      return ukernel_quant<Dot, F, 4>(w, x, acc);
  }
}

// The format is dispatched once per call, the rows once per tile.
template <class Dot>
void ukernel_quant_any(WeightFormat format, const QuantPanel& w, const QuantRows& x, int m,
                       float* acc) {
  switch (format) {
    case WeightFormat::kQ8_0:
      return ukernel_quant_rows<Dot, WeightFormat::kQ8_0>(w, x, m, acc);
    case WeightFormat::kQ4_0:
      return ukernel_quant_rows<Dot, WeightFormat::kQ4_0>(w, x, m, acc);
    case WeightFormat::kQ4_K:
      return ukernel_quant_rows<Dot, WeightFormat::kQ4_K>(w, x, m, acc);
    case WeightFormat::kQ6_K:
      return ukernel_quant_rows<Dot, WeightFormat::kQ6_K>(w, x, m, acc);
    default:
      return;
  }
}

}  // namespace
}  // namespace pocket::neon
