#include "kernels/quant_blocks.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace pocket {
namespace {

// Round to nearest, ties to even, as ggml's nearest_int: adding 1.5·2^23 leaves the rounded
// integer in the low mantissa bits (valid for |x| < 2^22).
int nearest_int(float x) {
  assert(std::fabs(x) <= 4194303.0f);
  const float v = x + 12582912.0f;
  std::int32_t i;
  std::memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// Q4_K packs 8 (scale, min) pairs of 6 bits in 12 bytes: pairs 0-3 in the low 6 bits of bytes
// 0-3 (scales) and 4-7 (mins); pairs 4-7 as a low nibble in bytes 8-11 and their top 2 bits in
// the spare top bits of bytes 0-7.
void scale_min_k4(int j, const std::uint8_t* q, std::uint8_t& sc, std::uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void dequantize_q8_0(const BlockQ8_0* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32_scalar(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

void dequantize_q4_0(const BlockQ4_0* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32_scalar(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[i * kQK4_0 + j] = static_cast<float>((b[i].qs[j] & 0x0F) - 8) * d;
      y[i * kQK4_0 + j + kQK4_0 / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// Each 64 values share 32 bytes of qs: the first 32 are the low nibbles, the next 32 the high,
// with sub-blocks 2s and 2s + 1. x = (d·sc)·q − (dmin·m), each product rounded once.
void dequantize_q4_k(const BlockQ4_K* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* q = b[i].qs;
    const float d = f16_to_f32_scalar(b[i].d), dmin = f16_to_f32_scalar(b[i].dmin);
    for (int s = 0; s < 8; s += 2) {
      std::uint8_t sc, m;
      scale_min_k4(s, b[i].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      scale_min_k4(s + 1, b[i].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
    }
  }
}

// Each 128 values use 64 bytes of ql and 32 of qh: value l + 32·t (t < 4, l < 32) has its low
// nibble in ql[l + 32·(t & 1)] (low half for t < 2, high half otherwise) and its top two bits in
// bits 2t..2t+1 of qh[l]; its scale is scales[l / 16 + 2t]. x = (d·scale)·(q − 32).
void dequantize_q6_k(const BlockQ6_K* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32_scalar(b[i].d);
    const std::uint8_t* ql = b[i].ql;
    const std::uint8_t* qh = b[i].qh;
    const std::int8_t* sc = b[i].scales;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// d = amax / 127, q = round(x / d) (ties away from zero, as roundf).
void quantize_q8_0(const float* x, BlockQ8_0* b, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, x += kQK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16_scalar(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = static_cast<std::int8_t>(std::roundf(x[j] * id));
  }
}

// d = max / −8 with max the value of largest magnitude (its sign kept), so that value maps to
// q = 0 exactly; q = min(15, trunc(x/d + 8.5)).
void quantize_q4_0(const float* x, BlockQ4_0* b, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, x += kQK4_0) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16_scalar(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const auto q0 = static_cast<std::uint8_t>(
          std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j] * id + 8.5f))));
      const auto q1 = static_cast<std::uint8_t>(std::min(
          15, static_cast<int>(static_cast<std::int8_t>(x[j + kQK4_0 / 2] * id + 8.5f))));
      b[i].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ggml's make_qkx2_quants: the affine fit x ≈ scale·L − min, L in [0, nmax], of n values with
// weights w, searching nstep + 1 trial scales around nmax / (max − min) for the least weighted
// squared (or absolute) error; each trial refits scale and min by weighted least squares.
// Returns the scale; *the_min receives min (≥ 0: the offset subtracted).
float make_qkx2_quants(int n, int nmax, const float* x, const float* w, std::uint8_t* L,
                       float* the_min, std::uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best += w[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = static_cast<std::uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        err += w[i] * diff;
      }
      if (err < best) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Per sub-block of 32: weights w = rms(x) + |x|, an affine fit with 4-bit L (make_qkx2_quants);
// the 8 scales and 8 mins are then quantized to 6 bits against the block's largest (d, dmin =
// max / 63), and L recomputed against the rounded (d·sc, dmin·m).
void quantize_q4_k(const float* x, BlockQ4_K* b, std::int64_t nb) {
  std::uint8_t L[kQK_K], Laux[32];
  float w[32], mins[8], scales[8];
  for (std::int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -1.0f,
                                   0.1f, 20, false);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::memset(b[i].scales, 0, sizeof b[i].scales);
    for (int j = 0; j < 8; ++j) {
      const auto ls = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
      const auto lm = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
      if (j < 4) {
        b[i].scales[j] = ls;
        b[i].scales[j + 4] = lm;
      } else {
        b[i].scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        b[i].scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
        b[i].scales[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
      }
    }
    b[i].d = f32_to_f16_scalar(max_scale / 63.0f);
    b[i].dmin = f32_to_f16_scalar(max_min / 63.0f);
    for (int j = 0; j < 8; ++j) {
      std::uint8_t sc, m;
      scale_min_k4(j, b[i].scales, sc, m);
      const float d = f16_to_f32_scalar(b[i].d) * sc;
      if (d == 0.0f) continue;
      const float dm = f16_to_f32_scalar(b[i].dmin) * m;
      for (int l = 0; l < 32; ++l) {
        const int q = nearest_int((x[32 * j + l] + dm) / d);
        L[32 * j + l] = static_cast<std::uint8_t>(std::max(0, std::min(15, q)));
      }
    }
    std::uint8_t* q = b[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    }
  }
}

}  // namespace

void dequantize_row(WeightFormat format, const void* src, float* dst, std::int64_t n) {
  assert(n % weight_block_size(format) == 0);
  const std::int64_t nb = n / weight_block_size(format);
  switch (format) {
    case WeightFormat::kF16: f16_to_f32(static_cast<const fp16*>(src), dst, static_cast<std::size_t>(n)); break;
    case WeightFormat::kF32: std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float)); break;
    case WeightFormat::kQ8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); break;
    case WeightFormat::kQ4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); break;
    case WeightFormat::kQ4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb); break;
    case WeightFormat::kQ6_K: dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb); break;
  }
}

void quantize_row(WeightFormat format, const float* src, void* dst, std::int64_t n) {
  assert(n % weight_block_size(format) == 0);
  const std::int64_t nb = n / weight_block_size(format);
  switch (format) {
    case WeightFormat::kF16:
      for (std::int64_t i = 0; i < n; ++i) static_cast<fp16*>(dst)[i] = f32_to_f16_scalar(src[i]);
      break;
    case WeightFormat::kF32: std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float)); break;
    case WeightFormat::kQ8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); break;
    case WeightFormat::kQ4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); break;
    case WeightFormat::kQ4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb); break;
    case WeightFormat::kQ6_K: assert(false && "Q6_K has no encoder"); break;
  }
}

}  // namespace pocket
