// The AVX-512 integer GEMM micro-kernel (gemm_quant.h), written once over a Dot policy: VNNI's
// vpdpbusd (gemm_quant_vnni.cpp) or AVX-512BW's vpmaddubsw + vpmaddwd (gemm_quant_avx512.cpp).
// Tile: up to 4 X rows × 32 W rows (two registers of 16 int32 lanes, lane j = W row j). Per
// block of 32 values and X row, eight steps of 4 values: the W panel's 64 bytes per register
// (4 bytes of each of 16 rows) against the X row's 4 bytes broadcast to every lane, an exact
// int32 dot product per lane; then gemm_quant.h's fp32 step on the 16 lanes at once.
// Everything has internal linkage: each including file has its own copy, built with its flags.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_quant.h"
#include "kernels/gemm_quant_block.h"

namespace pocket::avx512 {
namespace {

constexpr int kQuantMr = 4, kQuantNr = 32;

inline __m512i bcast_x4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The Dot policy: Dot::prepare_w<F>(w) makes a panel register what dot() takes;
// Dot::dot<F>(acc, w', x) = acc + each lane's Σ of 4 products w'·x (x int8; w' unsigned, or for
// Q8_0 whatever prepare_w made of the int8 bits); for Q8_0 that Σ is Σ w·x − q8_offset·Σ x,
// so its lanes start from q8_offset·Σ x.
template <class Dot, WeightFormat F, int M>
void ukernel_quant(const QuantPanel& w, const QuantRows& x, float* acc_out) {
  constexpr int V = kQuantNr / 16;
  __m512 acc[M][V];
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  // The integer offset each lane starts from, per unit of the block's (or half's) Σ x_q.
  constexpr int offset = F == WeightFormat::kQ8_0   ? Dot::q8_offset
                         : F == WeightFormat::kQ4_0 ? -8
                         : F == WeightFormat::kQ6_K ? -32
                                                    : 0;
  for (std::int64_t b = 0; b < w.n_blocks; ++b) {
    const std::uint8_t* wq = w.q + b * 8 * kQuantNr * 4;
    __m512i idot[M][V];
    if constexpr (F == WeightFormat::kQ6_K) {
      // Two halves of 16 values, each with its own int8 scale: i = sc₀·dot₀ + sc₁·dot₁.
      __m512i half[M][V];
      for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < M; ++i) {
          const __m512i start = _mm512_set1_epi32(offset * x.sum16[i * x.s_stride + 2 * b + h]);
          for (int v = 0; v < V; ++v) half[i][v] = start;
        }
        for (int t = 4 * h; t < 4 * h + 4; ++t) {
          __m512i wv[V];
          for (int v = 0; v < V; ++v) {
            wv[v] =
                Dot::template prepare_w<F>(_mm512_loadu_si512(wq + (t * kQuantNr + 16 * v) * 4));
          }
          for (int i = 0; i < M; ++i) {
            const __m512i xv = bcast_x4(x.q + i * x.q_stride + b * 32 + 4 * t);
            for (int v = 0; v < V; ++v) half[i][v] = Dot::template dot<F>(half[i][v], wv[v], xv);
          }
        }
        for (int v = 0; v < V; ++v) {
          const __m512i sc = _mm512_loadu_si512(w.sub_scale + (2 * b + h) * kQuantNr + 16 * v);
          for (int i = 0; i < M; ++i) {
            const __m512i part = _mm512_mullo_epi32(half[i][v], sc);
            idot[i][v] = h == 0 ? part : _mm512_add_epi32(idot[i][v], part);
          }
        }
      }
    } else {
      for (int i = 0; i < M; ++i) {
        const std::int32_t xs =
            x.sum16[i * x.s_stride + 2 * b] + x.sum16[i * x.s_stride + 2 * b + 1];
        const __m512i start = _mm512_set1_epi32(offset * xs);
        for (int v = 0; v < V; ++v) idot[i][v] = start;
      }
      for (int t = 0; t < 8; ++t) {
        __m512i wv[V];
        for (int v = 0; v < V; ++v) {
          wv[v] = Dot::template prepare_w<F>(_mm512_loadu_si512(wq + (t * kQuantNr + 16 * v) * 4));
        }
        for (int i = 0; i < M; ++i) {
          const __m512i xv = bcast_x4(x.q + i * x.q_stride + b * 32 + 4 * t);
          for (int v = 0; v < V; ++v) idot[i][v] = Dot::template dot<F>(idot[i][v], wv[v], xv);
        }
      }
    }
    // acc = acc + (scale·dx)·float(i)   [Q4_K: − (min·dx)·float(Σx)]
    for (int v = 0; v < V; ++v) {
      const __m512 scale = _mm512_loadu_ps(w.scale + b * kQuantNr + 16 * v);
      for (int i = 0; i < M; ++i) {
        const __m512 dx = _mm512_set1_ps(x.d[i * x.d_stride + b]);
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(scale, dx), _mm512_cvtepi32_ps(idot[i][v]));
        if constexpr (F == WeightFormat::kQ4_K) {
          const __m512 min = _mm512_loadu_ps(w.min + b * kQuantNr + 16 * v);
          const float xs = static_cast<float>(x.sum16[i * x.s_stride + 2 * b] +
                                              x.sum16[i * x.s_stride + 2 * b + 1]);
          t = _mm512_sub_ps(t, _mm512_mul_ps(_mm512_mul_ps(min, dx), _mm512_set1_ps(xs)));
        }
        acc[i][v] = _mm512_add_ps(acc[i][v], t);
      }
    }
  }
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(acc_out + i * kQuantNr + 16 * v, acc[i][v]);
  }
}

// 16 rows of 8 dwords (one 32-value block each) → out[t]: lane j = row j's dword t.
// z[j] holds rows j and j + 8; two unpack levels transpose each 128-bit lane's 4×4 dwords, and
// the lane shuffles put rows 0-3, 4-7, 8-11, 12-15 of one dword side by side.
inline void transpose_16x8(const __m256i* rows, __m512i* out) {
  __m512i z[8], a[8], c[8];
  for (int j = 0; j < 8; ++j) {
    z[j] = _mm512_inserti64x4(_mm512_castsi256_si512(rows[j]), rows[j + 8], 1);
  }
  for (int p = 0; p < 4; ++p) {
    a[2 * p] = _mm512_unpacklo_epi32(z[2 * p], z[2 * p + 1]);
    a[2 * p + 1] = _mm512_unpackhi_epi32(z[2 * p], z[2 * p + 1]);
  }
  for (int g = 0; g < 2; ++g) {  // rows 0-3 (a0..a3) and 4-7 (a4..a7) of each half
    c[4 * g + 0] = _mm512_unpacklo_epi64(a[4 * g + 0], a[4 * g + 2]);
    c[4 * g + 1] = _mm512_unpackhi_epi64(a[4 * g + 0], a[4 * g + 2]);
    c[4 * g + 2] = _mm512_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
    c[4 * g + 3] = _mm512_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    const __m512i lo = _mm512_shuffle_i32x4(c[e], c[4 + e], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i hi = _mm512_shuffle_i32x4(c[e], c[4 + e], _MM_SHUFFLE(3, 1, 3, 1));
    out[e] = _mm512_shuffle_i32x4(lo, lo, _MM_SHUFFLE(3, 1, 2, 0));
    out[4 + e] = _mm512_shuffle_i32x4(hi, hi, _MM_SHUFFLE(3, 1, 2, 0));
  }
}

inline float f16_bits_to_f32(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The panel packer for Q8_0, Q4_0 and Q4_K (Q6_K: the portable one): each block of 16 rows
// decoded to bytes in registers (Q4: nibbles split) and transposed, the scales beside. The W
// rows are read a block at a time, 32 rows side by side, with a prefetch ahead in each.
inline bool pack_quant_panel(const WeightView& w, std::int64_t n0, int n,
                             const QuantPanelOut& out) {
  const WeightFormat f = w.format;
  if (f != WeightFormat::kQ8_0 && f != WeightFormat::kQ4_0 && f != WeightFormat::kQ4_K) {
    return false;
  }
  const std::int64_t n_blocks = w.cols / 32;
  const std::int64_t row_bytes = weight_bytes(f, w.stride);
  const auto* base = static_cast<const std::uint8_t*>(w.data) + n0 * row_bytes;
  const __m128i low4 = _mm_set1_epi8(0x0F);
  for (std::int64_t b = 0; b < n_blocks; ++b) {
    for (int v = 0; v < kQuantNr / 16; ++v) {
      __m256i rows[16];
      for (int r = 0; r < 16; ++r) {
        const int j = 16 * v + r;
        float scale = 0.0f, min = 0.0f;
        if (j >= n) {
          rows[r] = _mm256_setzero_si256();
        } else if (f == WeightFormat::kQ8_0) {
          const std::uint8_t* blk = base + j * row_bytes + b * 34;
          _mm_prefetch(reinterpret_cast<const char*>(blk + 512), _MM_HINT_T0);
          rows[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
          scale = f16_bits_to_f32(blk);
        } else if (f == WeightFormat::kQ4_0) {
          const std::uint8_t* blk = base + j * row_bytes + b * 18;
          _mm_prefetch(reinterpret_cast<const char*>(blk + 512), _MM_HINT_T0);
          const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
          rows[r] =
              _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
          scale = f16_bits_to_f32(blk);
        } else {
          const std::uint8_t* blk = base + j * row_bytes + (b / 8) * 144;
          const int sub = static_cast<int>(b % 8);
          if (sub == 0) _mm_prefetch(reinterpret_cast<const char*>(blk + 576), _MM_HINT_T0);
          const __m256i q =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * (sub / 2)));
          rows[r] =
              _mm256_and_si256(sub % 2 == 0 ? q : _mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F));
          int sc, m;
          gemm_detail::q4_k_scale_min(blk + 4, sub, sc, m);
          scale = f16_bits_to_f32(blk) * static_cast<float>(sc);
          min = f16_bits_to_f32(blk + 2) * static_cast<float>(m);
        }
        out.scale[b * kQuantNr + j] = scale;
        out.min[b * kQuantNr + j] = min;
      }
      __m512i t[8];
      transpose_16x8(rows, t);
      for (int s = 0; s < 8; ++s) {
        _mm512_storeu_si512(out.q + (b * 8 + s) * kQuantNr * 4 + 64 * v, t[s]);
      }
    }
  }
  return true;
}

// quantize_activations with the same fp32 operations, 32 values at a time: amax by max (exact,
// any order), d = amax/127, q = x·(1/d) rounded half away from zero as trunc + a correction.
inline void quantize_activations_avx512(const float* x, std::int64_t K, std::int8_t* q, float* d,
                                        std::int32_t* sum16) {
  const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
  for (std::int64_t b = 0; b < K / 32; ++b) {
    const __m512 v[2] = {_mm512_loadu_ps(x + 32 * b), _mm512_loadu_ps(x + 32 * b + 16)};
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_abs_ps(v[1])));
    const float db = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(db != 0.0f ? 1.0f / db : 0.0f);
    d[b] = db;
    for (int h = 0; h < 2; ++h) {
      const __m512 y = _mm512_mul_ps(v[h], id);
      __m512 t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(y, t)), half, _CMP_GE_OQ);
      t = _mm512_mask_add_ps(t, up, t, _mm512_or_ps(_mm512_and_ps(y, sign), one));
      const __m512i qi = _mm512_cvttps_epi32(t);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 32 * b + 16 * h), _mm512_cvtepi32_epi8(qi));
      sum16[2 * b + h] = _mm512_reduce_add_epi32(qi);
    }
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
}  // namespace pocket::avx512
