// The dot-product micro-kernel written once against xsimd; each gemm_ukernel_<isa>.cpp
// instantiates it with its register tile. Included only by those files.
#pragma once

#include <cstdint>

#include "kernels/gemm_kernel.h"
#include "kernels/simd.h"

#if defined(POCKET_SIMD_AVX512)
#include <immintrin.h>
// GCC < 13 implements _mm512_castps512_ps256 with an "undefined" operand and then warns that it
// is uninitialised where the cast is inlined (GCC bug 105593): not a defect of this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#endif

#if !defined(POCKET_SIMD_SCALAR)
namespace pocket::gemm_detail {

// Lane r of the result = Σ lanes of rows[r], for r < L. xsimd 8.1's avx512 haddp returns lanes
// 2-5 and 10-13 permuted, so on AVX-512 each row is first folded to 256 bits (lo + hi) and the
// (correct) AVX haddp does the rest.
inline vfloat sum_each_row(const vfloat* rows) {
#if defined(POCKET_SIMD_AVX512)
  using half = xsimd::batch<float, xsimd::avx2>;
  half lo[8], hi[8];
  auto fold = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  };
  for (int r = 0; r < 8; ++r) {
    lo[r] = fold(rows[r]);
    hi[r] = fold(rows[8 + r]);
  }
  const __m256 a = xsimd::haddp(lo), b = xsimd::haddp(hi);
  return _mm512_shuffle_f32x4(_mm512_zextps256_ps512(a), _mm512_zextps256_ps512(b), 0x44);
#else
  return xsimd::haddp(rows);
#endif
}

// y[i,j] (+)= Σ_c Σ_l xp[c,i,l]·wp[c,j,l] (+ bias[j]) for an M×NR tile (see gemm_kernel.h).
template <int M, int NR>
void ukernel_dot(std::int64_t kcp, const float* xp, const float* wp, float* y, std::int64_t ldy,
                 int n, const float* bias, bool accumulate) {
  constexpr int L = kFloatLanes;
  vfloat acc[M][NR];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = vfloat(0.0f);
  }
  const std::int64_t chunks = kcp / L;
  for (std::int64_t c = 0; c < chunks; ++c) {
    vfloat xv[M];
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) xv[i] = vfloat::load_aligned(xp + (c * M + i) * L);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const vfloat wv = vfloat::load_aligned(wp + (c * NR + j) * L);
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) acc[i][j] = fmadd(xv[i], wv, acc[i][j]);
    }
  }
  // Horizontal sums, L accumulators at a time.
  constexpr int kTile = M * NR;
  constexpr int kGroups = (kTile + L - 1) / L;
  alignas(64) float sums[kGroups * L];
#pragma GCC unroll 4
  for (int g = 0; g < kGroups; ++g) {
    vfloat rows[L];
#pragma GCC unroll 16
    for (int r = 0; r < L; ++r) {
      const int t = g * L + r;
      rows[r] = t < kTile ? acc[t / NR][t % NR] : vfloat(0.0f);
    }
    sum_each_row(rows).store_aligned(sums + g * L);
  }
  for (int i = 0; i < M; ++i) {
    float* row = y + i * ldy;
    for (int j = 0; j < n; ++j) {
      float v = sums[i * NR + j];
      if (accumulate) v = row[j] + v;
      if (bias != nullptr) v += bias[j];
      row[j] = v;
    }
  }
}

// ukernel[m] = ukernel_dot<m, NR> for m = 1..MR; entries past MR stay null.
template <int MR, int NR>
constexpr GemmKernel make_kernel(const GemmBlocking& blocking) {
  static_assert(MR >= 1 && MR <= kGemmMaxMr);
  GemmKernel k{blocking, {}};
  k.ukernel[1] = &ukernel_dot<1, NR>;
  if constexpr (MR >= 2) k.ukernel[2] = &ukernel_dot<2, NR>;
  if constexpr (MR >= 3) k.ukernel[3] = &ukernel_dot<3, NR>;
  if constexpr (MR >= 4) k.ukernel[4] = &ukernel_dot<4, NR>;
  if constexpr (MR >= 5) k.ukernel[5] = &ukernel_dot<5, NR>;
  if constexpr (MR >= 6) k.ukernel[6] = &ukernel_dot<6, NR>;
  if constexpr (MR >= 7) k.ukernel[7] = &ukernel_dot<7, NR>;
  if constexpr (MR >= 8) k.ukernel[8] = &ukernel_dot<8, NR>;
  return k;
}

}  // namespace pocket::gemm_detail
#endif
