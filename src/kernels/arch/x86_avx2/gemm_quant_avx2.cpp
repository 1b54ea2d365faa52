// The AVX2 integer GEMM micro-kernel (gemm_quant.h): vpmaddubsw + vpmaddwd, for x86-64-v3 CPUs
// (Haswell, Zen 1-3) and anything without AVX-512.
// Tile: up to 4 X rows × 16 W rows (two registers of 8 int32 lanes, lane j = W row j). Per block
// of 32 values and X row, eight steps of 4 values: the panel's 32 bytes per register (4 bytes of
// each of 8 rows) against the X row's 4 bytes broadcast to every lane; vpmaddubsw makes int16 sums
// of adjacent products, vpmaddwd by 1 sums those pairs into the int32 lanes. Then gemm_quant.h's
// fp32 step on 8 lanes at once, in its order (the build has -ffp-contract=off: no FMA).
//
// vpmaddubsw is unsigned × signed and saturates its int16 pair sums, so:
//   Q8_0: llama.cpp's sign trick, |w| · (x with w's sign) = w·x; |w| ≤ 128, |x| ≤ 127, one pair
//         ≤ 32512: each step's pairs go to int32 at once.
//   Q4_0, Q4_K: q ≤ 15, a pair ≤ 3810, so the 8 steps of a block sum in int16 (≤ 30480) and
//         widen once.
//   Q6_K: q ≤ 63, a pair ≤ 16002, so two steps sum in int16 (≤ 32004) before widening.
// Integer sums are exact in any order, so none of this changes a bit.
// Its own panel packer for Q8_0, Q4_0 and Q4_K (an 8×8 dword transpose per 8 rows and block).
#include "kernels/gemm_quant.h"
#include "kernels/gemm_quant_block.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

#include <cstring>

namespace pocket::avx2 {

namespace {

constexpr int kMr = 4, kNr = 16;
constexpr int kV = kNr / 8;  // registers per panel step

inline __m256i bcast_x4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// idot[i][v] += the int32 lane sums of steps t0..t0+G of one block (G steps summed in int16 first,
// as the bounds above allow for F).
template <WeightFormat F, int M, int G>
inline void dot_steps(const std::uint8_t* wq, const std::int8_t* const* xb, int t0,
                      __m256i (&idot)[M][kV]) {
  __m256i pairs[M][kV];
  for (int t = t0; t < t0 + G; ++t) {
    __m256i wv[kV], wabs[kV];
    for (int v = 0; v < kV; ++v) {
      wv[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + (t * kNr + 8 * v) * 4));
      wabs[v] = F == WeightFormat::kQ8_0 ? _mm256_abs_epi8(wv[v]) : wv[v];
    }
    for (int i = 0; i < M; ++i) {
      const __m256i xv = bcast_x4(xb[i] + 4 * t);
      for (int v = 0; v < kV; ++v) {
        const __m256i xs = F == WeightFormat::kQ8_0 ? _mm256_sign_epi8(xv, wv[v]) : xv;
        const __m256i p = _mm256_maddubs_epi16(wabs[v], xs);
        pairs[i][v] = t == t0 ? p : _mm256_add_epi16(pairs[i][v], p);
      }
    }
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < kV; ++v) {
      idot[i][v] = _mm256_add_epi32(idot[i][v], _mm256_madd_epi16(pairs[i][v], ones));
    }
  }
}

template <WeightFormat F, int M>
void ukernel_quant(const QuantPanel& w, const QuantRows& x, float* acc_out) {
  __m256 acc[M][kV];
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < kV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  // The integer offset each lane starts from, per unit of the block's (or half's) Σ x_q.
  constexpr int offset = F == WeightFormat::kQ4_0 ? -8 : F == WeightFormat::kQ6_K ? -32 : 0;
  for (std::int64_t b = 0; b < w.n_blocks; ++b) {
    const std::uint8_t* wq = w.q + b * 8 * kNr * 4;
    const std::int8_t* xb[M];
    const std::int32_t* xs[M];
    for (int i = 0; i < M; ++i) {
      xb[i] = x.q + i * x.q_stride + b * 32;
      xs[i] = x.sum16 + i * x.s_stride + 2 * b;
    }
    __m256i idot[M][kV];
    if constexpr (F == WeightFormat::kQ6_K) {
      // Two halves of 16 values, each with its own int8 scale: i = sc₀·dot₀ + sc₁·dot₁.
      for (int h = 0; h < 2; ++h) {
        __m256i half[M][kV];
        for (int i = 0; i < M; ++i) {
          const __m256i start = _mm256_set1_epi32(offset * xs[i][h]);
          for (int v = 0; v < kV; ++v) half[i][v] = start;
        }
        dot_steps<F, M, 2>(wq, xb, 4 * h, half);
        dot_steps<F, M, 2>(wq, xb, 4 * h + 2, half);
        for (int v = 0; v < kV; ++v) {
          const __m256i sc = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(w.sub_scale + (2 * b + h) * kNr + 8 * v));
          for (int i = 0; i < M; ++i) {
            const __m256i part = _mm256_mullo_epi32(half[i][v], sc);
            idot[i][v] = h == 0 ? part : _mm256_add_epi32(idot[i][v], part);
          }
        }
      }
    } else {
      for (int i = 0; i < M; ++i) {
        const __m256i start = _mm256_set1_epi32(offset * (xs[i][0] + xs[i][1]));
        for (int v = 0; v < kV; ++v) idot[i][v] = start;
      }
      if constexpr (F == WeightFormat::kQ8_0) {
        for (int t = 0; t < 8; ++t) dot_steps<F, M, 1>(wq, xb, t, idot);
      } else {
        dot_steps<F, M, 8>(wq, xb, 0, idot);
      }
    }
    // acc = acc + (scale·dx)·float(i)   [Q4_K: − (min·dx)·float(Σx)]
    for (int v = 0; v < kV; ++v) {
      const __m256 scale = _mm256_loadu_ps(w.scale + b * kNr + 8 * v);
      for (int i = 0; i < M; ++i) {
        const __m256 dx = _mm256_set1_ps(x.d[i * x.d_stride + b]);
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(scale, dx), _mm256_cvtepi32_ps(idot[i][v]));
        if constexpr (F == WeightFormat::kQ4_K) {
          const __m256 min = _mm256_loadu_ps(w.min + b * kNr + 8 * v);
          const float sum = static_cast<float>(xs[i][0] + xs[i][1]);
          t = _mm256_sub_ps(t, _mm256_mul_ps(_mm256_mul_ps(min, dx), _mm256_set1_ps(sum)));
        }
        acc[i][v] = _mm256_add_ps(acc[i][v], t);
      }
    }
  }
  for (int i = 0; i < M; ++i) {
    for (int v = 0; v < kV; ++v) _mm256_storeu_ps(acc_out + i * kNr + 8 * v, acc[i][v]);
  }
}

template <WeightFormat F>
void ukernel_quant_rows(const QuantPanel& w, const QuantRows& x, int m, float* acc) {
  switch (m) {
    case 1:
      return ukernel_quant<F, 1>(w, x, acc);
    case 2:
      return ukernel_quant<F, 2>(w, x, acc);
    case 3:
      return ukernel_quant<F, 3>(w, x, acc);
    default:
      return ukernel_quant<F, 4>(w, x, acc);
  }
}

// The format is dispatched once per call, the rows once per tile.
void ukernel_quant_avx2(WeightFormat format, const QuantPanel& w, const QuantRows& x, int m,
                        float* acc) {
  switch (format) {
    case WeightFormat::kQ8_0:
      return ukernel_quant_rows<WeightFormat::kQ8_0>(w, x, m, acc);
    case WeightFormat::kQ4_0:
      return ukernel_quant_rows<WeightFormat::kQ4_0>(w, x, m, acc);
    case WeightFormat::kQ4_K:
      return ukernel_quant_rows<WeightFormat::kQ4_K>(w, x, m, acc);
    case WeightFormat::kQ6_K:
      return ukernel_quant_rows<WeightFormat::kQ6_K>(w, x, m, acc);
    default:
      return;
  }
}

// 8 rows of 8 dwords (one 32-value block each) → out[t]: lane j = row j's dword t. Two unpack
// levels transpose each 128-bit lane's 4×4 dwords (rows 0-3 and 4-7, dwords t and t + 4 side by
// side), and the lane permutes put rows 0-3 and 4-7 of one dword together.
inline void transpose_8x8(const __m256i* rows, __m256i* out) {
  __m256i a[8], c[8];
  for (int p = 0; p < 4; ++p) {
    a[2 * p] = _mm256_unpacklo_epi32(rows[2 * p], rows[2 * p + 1]);
    a[2 * p + 1] = _mm256_unpackhi_epi32(rows[2 * p], rows[2 * p + 1]);
  }
  for (int g = 0; g < 2; ++g) {  // rows 0-3 (a0..a3) and 4-7 (a4..a7)
    c[4 * g + 0] = _mm256_unpacklo_epi64(a[4 * g + 0], a[4 * g + 2]);
    c[4 * g + 1] = _mm256_unpackhi_epi64(a[4 * g + 0], a[4 * g + 2]);
    c[4 * g + 2] = _mm256_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
    c[4 * g + 3] = _mm256_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    out[e] = _mm256_permute2x128_si256(c[e], c[4 + e], 0x20);
    out[4 + e] = _mm256_permute2x128_si256(c[e], c[4 + e], 0x31);
  }
}

inline float f16_bits_to_f32(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The panel packer for Q8_0, Q4_0 and Q4_K (Q6_K: the portable one): each block of 8 rows decoded
// to bytes in registers (Q4: nibbles split) and transposed, the scales beside.
bool pack_quant_panel_avx2(const WeightView& w, std::int64_t n0, int n, const QuantPanelOut& out) {
  const WeightFormat f = w.format;
  if (f != WeightFormat::kQ8_0 && f != WeightFormat::kQ4_0 && f != WeightFormat::kQ4_K) {
    return false;
  }
  const std::int64_t n_blocks = w.cols / 32;
  const std::int64_t row_bytes = weight_bytes(f, w.stride);
  const auto* base = static_cast<const std::uint8_t*>(w.data) + n0 * row_bytes;
  const __m128i low4 = _mm_set1_epi8(0x0F);
  for (std::int64_t b = 0; b < n_blocks; ++b) {
    for (int v = 0; v < kV; ++v) {
      __m256i rows[8];
      for (int r = 0; r < 8; ++r) {
        const int j = 8 * v + r;
        float scale = 0.0f, min = 0.0f;
        if (j >= n) {
          rows[r] = _mm256_setzero_si256();
        } else if (f == WeightFormat::kQ8_0) {
          const std::uint8_t* blk = base + j * row_bytes + b * 34;
          rows[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
          scale = f16_bits_to_f32(blk);
        } else if (f == WeightFormat::kQ4_0) {
          const std::uint8_t* blk = base + j * row_bytes + b * 18;
          const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
          rows[r] =
              _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
          scale = f16_bits_to_f32(blk);
        } else {
          // Q4_K: super-block b/8; sub-block `sub` is the low (even) or high (odd) nibbles of the
          // 32 bytes qs[32·(sub/2) ..], its 6-bit scale and min as ggml's get_scale_min_k4.
          const std::uint8_t* blk = base + j * row_bytes + (b / 8) * 144;
          const int sub = static_cast<int>(b % 8);
          const __m256i q =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * (sub / 2)));
          rows[r] =
              _mm256_and_si256(sub % 2 == 0 ? q : _mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F));
          int sc, m;
          gemm_detail::q4_k_scale_min(blk + 4, sub, sc, m);
          scale = f16_bits_to_f32(blk) * static_cast<float>(sc);
          min = f16_bits_to_f32(blk + 2) * static_cast<float>(m);
        }
        out.scale[b * kNr + j] = scale;
        out.min[b * kNr + j] = min;
      }
      __m256i t[8];
      transpose_8x8(rows, t);
      for (int s = 0; s < 8; ++s) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q + (b * 8 + s) * kNr * 4 + 32 * v),
                            t[s]);
      }
    }
  }
  return true;
}

constexpr GemmQuantKernel kVariants[] = {
    {"avx2", "avx2", "", kMr, kNr, &ukernel_quant_avx2, &pack_quant_panel_avx2},
};

}  // namespace

std::span<const GemmQuantKernel> gemm_quant_variants() { return kVariants; }

}  // namespace pocket::avx2
#else
namespace pocket::avx2 {
std::span<const GemmQuantKernel> gemm_quant_variants() { return {}; }
}  // namespace pocket::avx2
#endif
