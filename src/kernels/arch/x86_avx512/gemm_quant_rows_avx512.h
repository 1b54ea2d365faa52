// The AVX-512 small-M (decode) integer kernel (GemmQuantRows of gemm_quant.h) for Q8_0 and Q4_0,
// written once over the Dot policy of gemm_quant_avx512.h: 16 W rows × up to 4 X rows, the
// blocks read in place.
//
// Per block b of 32 values, the 16 rows are four registers per half: register g holds rows
// 4g..4g+3, one 128-bit lane each, `lo` with the block's values 0..15 and `hi` with 16..31
// (Q4_0: the 16 bytes' low and high nibbles; Q8_0: the two 16-byte halves). Against the X row's
// 16 + 16 bytes broadcast to every lane, two dot steps leave each lane of register g with a
// partial sum of 4 + 4 products of one row; two transpose-and-add levels (unpack 32, unpack 64)
// sum each lane's 4 partials into one int32 per row, exact. The reduced register's lane
// 4r + g holds row 4g + r — a fixed permutation that is its own inverse; the rows' fp16 scales,
// the first two bytes of each lane's block, are brought into that order by the same unpacks,
// and the output is permuted back once. Then gemm_quant.h's fp32 step,
// acc = acc + (d·dx)·float(i), on 16 rows at once, in its order.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm_quant.h"

namespace pocket::avx512 {
namespace {

// Lane L of a reduced register holds W row 4·(L % 4) + L / 4.
constexpr int row_of_lane(int lane) { return 4 * (lane % 4) + lane / 4; }

// Σ of each 128-bit lane's four int32 of v[g] → lane 4r + g (r the 128-bit lane).
inline __m512i reduce_4x4(const __m512i* v) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]),
                                       _mm512_unpackhi_epi32(v[0], v[1]));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]),
                                       _mm512_unpackhi_epi32(v[2], v[3]));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

// Where row 4g + k of the 16 is, at byte `off` of the rows. Strided: a full group of 16 rows, as
// four group pointers and the row length (x86 addresses p + rb·k directly, so the 16 rows cost 6
// registers, not 16 pointers the compiler spills). Clamped: fewer rows, the last repeated (its
// outputs are dropped), so every load stays inside W.
struct RowsStrided {
  const std::uint8_t* group[4];
  std::int64_t rb;
  RowsStrided(const std::uint8_t* base, std::int64_t row_bytes, int) : rb(row_bytes) {
    for (int g = 0; g < 4; ++g) group[g] = base + 4 * g * row_bytes;
  }
  const std::uint8_t* at(int g, int k, std::int64_t off) const { return group[g] + off + k * rb; }
};
struct RowsClamped {
  const std::uint8_t* row[16];
  RowsClamped(const std::uint8_t* base, std::int64_t row_bytes, int n) {
    for (int j = 0; j < 16; ++j) row[j] = base + std::min(j, n - 1) * row_bytes;
  }
  const std::uint8_t* at(int g, int k, std::int64_t off) const { return row[4 * g + k] + off; }
};

// 16 bytes of each row of group g, one per 128-bit lane.
template <class Rows>
inline __m512i load4x128(const Rows& r, int g, std::int64_t off) {
  auto at = [&](int k) { return reinterpret_cast<const __m128i*>(r.at(g, k, off)); };
  __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(at(0)));
  v = _mm512_inserti32x4(v, _mm_loadu_si128(at(1)), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(at(2)), 2);
  return _mm512_inserti32x4(v, _mm_loadu_si128(at(3)), 3);
}

inline __m512i load2x256(const std::uint8_t* a, const std::uint8_t* b) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// How far ahead in each row to prefetch: 16 rows read side by side are more streams than the
// hardware prefetchers follow well (measured on Zen 5: without it, half the read bandwidth). About
// 15 blocks ahead; measured best of 128..2048 bytes (noisy: ±20 %).
template <WeightFormat F>
constexpr int kPrefetchBytes = F == WeightFormat::kQ8_0 ? 512 : 256;

template <class Dot, WeightFormat F, int M, class Rows>
void rows_quant(const WeightView& w, std::int64_t n0, int n, const QuantRows& x, float* acc_out) {
  static_assert(F == WeightFormat::kQ8_0 || F == WeightFormat::kQ4_0);
  constexpr int kBlockBytes = F == WeightFormat::kQ8_0 ? 34 : 18;
  // The integer each row's sum starts from per unit of the block's Σ x_q (as in ukernel_quant).
  constexpr int offset = F == WeightFormat::kQ8_0 ? Dot::q8_offset : -8;
  const std::int64_t row_bytes = weight_bytes(F, w.stride);
  const Rows rows(static_cast<const std::uint8_t*>(w.data) + n0 * row_bytes, row_bytes, n);
  const __m512i low4 = _mm512_set1_epi8(0x0F);

  __m512 acc[M];
  for (int i = 0; i < M; ++i) acc[i] = _mm512_setzero_ps();
  const std::int64_t n_blocks = w.cols / 32;
  for (std::int64_t b = 0; b < n_blocks; ++b) {
    const std::int64_t off = b * kBlockBytes;
    __m512i lo[4], hi[4], head[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      for (int k = 0; k < 4; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(rows.at(g, k, off + kPrefetchBytes<F>)),
                     _MM_HINT_T0);
      }
      head[g] = load4x128(rows, g, off);  // each lane starts with its row's fp16 d
      if constexpr (F == WeightFormat::kQ4_0) {
        const __m512i q = load4x128(rows, g, off + 2);
        lo[g] = _mm512_and_si512(q, low4);
        hi[g] = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
      } else {
        const __m512i ab = load2x256(rows.at(g, 0, off + 2), rows.at(g, 1, off + 2));
        const __m512i cd = load2x256(rows.at(g, 2, off + 2), rows.at(g, 3, off + 2));
        lo[g] = Dot::template prepare_w<F>(_mm512_shuffle_i32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)));
        hi[g] = Dot::template prepare_w<F>(_mm512_shuffle_i32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
      }
    }
    // The first dword of each lane of head[g] → lane 4r + g, the reduced order; its low half
    // is d.
    const __m512i d_bits = _mm512_unpacklo_epi64(_mm512_unpacklo_epi32(head[0], head[1]),
                                                 _mm512_unpacklo_epi32(head[2], head[3]));
    const __m512 scale = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d_bits));
    for (int i = 0; i < M; ++i) {
      const std::int8_t* xq = x.q + i * x.q_stride + b * 32;
      const __m512i xlo =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
      const __m512i xhi =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
      __m512i part[4];
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        part[g] = Dot::template dot<F>(Dot::template dot<F>(_mm512_setzero_si512(), lo[g], xlo),
                                       hi[g], xhi);
      }
      const std::int32_t xs = x.sum16[i * x.s_stride + 2 * b] + x.sum16[i * x.s_stride + 2 * b + 1];
      const __m512i idot = _mm512_add_epi32(reduce_4x4(part), _mm512_set1_epi32(offset * xs));
      const __m512 dx = _mm512_set1_ps(x.d[i * x.d_stride + b]);
      acc[i] = _mm512_add_ps(acc[i],
                             _mm512_mul_ps(_mm512_mul_ps(scale, dx), _mm512_cvtepi32_ps(idot)));
    }
  }
  // Lane L → row row_of_lane(L); the permutation is its own inverse.
  const __m512i unpermute = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (int i = 0; i < M; ++i) {
    // (The masked form with every lane set: the plain one trips GCC 12's -Wuninitialized.)
    _mm512_storeu_ps(acc_out + i * kGemmQuantRowsNr,
                     _mm512_mask_permutexvar_ps(acc[i], 0xFFFF, unpermute, acc[i]));
  }
}

template <class Dot, WeightFormat F, class Rows>
void rows_quant_m(const WeightView& w, std::int64_t n0, int n, const QuantRows& x, int m,
                  float* acc) {
  switch (m) {
    case 1:
      return rows_quant<Dot, F, 1, Rows>(w, n0, n, x, acc);
    case 2:
      return rows_quant<Dot, F, 2, Rows>(w, n0, n, x, acc);
    case 3:
      return rows_quant<Dot, F, 3, Rows>(w, n0, n, x, acc);
    default:
      return rows_quant<Dot, F, 4, Rows>(w, n0, n, x, acc);
  }
}

template <class Dot, WeightFormat F>
void rows_quant_f(const WeightView& w, std::int64_t n0, int n, const QuantRows& x, int m,
                  float* acc) {
  if (n == 16) return rows_quant_m<Dot, F, RowsStrided>(w, n0, n, x, m, acc);
  return rows_quant_m<Dot, F, RowsClamped>(w, n0, n, x, m, acc);
}

template <class Dot>
void rows_quant_any(WeightFormat format, const WeightView& w, std::int64_t n0, int n,
                    const QuantRows& x, int m, float* acc) {
  if (format == WeightFormat::kQ8_0) return rows_quant_f<Dot, WeightFormat::kQ8_0>(w, n0, n, x, m, acc);
  return rows_quant_f<Dot, WeightFormat::kQ4_0>(w, n0, n, x, m, acc);
}

constexpr unsigned kRowsFormats =
    format_bit(WeightFormat::kQ8_0) | format_bit(WeightFormat::kQ4_0);

}  // namespace
}  // namespace pocket::avx512
