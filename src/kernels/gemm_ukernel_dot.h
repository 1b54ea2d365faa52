// The dot-product micro-kernel, written once against an ISA's operations (the Isa struct of
// arch/<isa>/simd.h) and instantiated for every row of the CPU config table that names that ISA
// (arch/<isa>/gemm_ukernel.cpp). Included only by those files, each built with its ISA's flags.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>

#include "kernels/cpu_config.h"
#include "kernels/gemm_kernel.h"

namespace pocket::gemm_detail {

// y[i,j] (+)= Σ_c Σ_l xp[c,i,l]·wp[c,j,l] (+ bias[j]) for an M×NR tile (see gemm_kernel.h).
// Each y element is one vector accumulator summed chunk by chunk in K order, then one horizontal
// sum: the tile shape (M, NR) does not change any element's sequence of operations.
template <class Isa, int M, int NR>
void ukernel_dot(std::int64_t kcp, const float* xp, const float* wp, float* y, std::int64_t ldy,
                 int n, const float* bias, bool accumulate) {
  using vfloat = typename Isa::vfloat;
  constexpr int L = Isa::kLanes;
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
      for (int i = 0; i < M; ++i) acc[i][j] = Isa::fmadd(xv[i], wv, acc[i][j]);
    }
  }
  // Horizontal sums, L accumulators at a time. The group loop must unroll fully (kGroups ≤ 8):
  // a loop left rolled indexes acc at run time, so GCC keeps every accumulator on the stack and
  // stores all of them on each K step (NEON 4×6 has 6 groups; bench/ukernel-mca.sh).
  constexpr int kTile = M * NR;
  constexpr int kGroups = (kTile + L - 1) / L;
  alignas(64) float sums[kGroups * L];
#pragma GCC unroll 8
  for (int g = 0; g < kGroups; ++g) {
    vfloat rows[L];
#pragma GCC unroll 16
    for (int r = 0; r < L; ++r) {
      const int t = g * L + r;
      rows[r] = t < kTile ? acc[t / NR][t % NR] : vfloat(0.0f);
    }
    Isa::sum_each_row(rows).store_aligned(sums + g * L);
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

// ukernel[m] = ukernel_dot<Isa, m, NR> for m = 1..MR; entries past MR stay null.
template <class Isa, int MR, int NR>
constexpr GemmKernel make_kernel(const GemmBlocking& blocking) {
  static_assert(MR >= 1 && MR <= kGemmMaxMr);
  GemmKernel k{blocking, {}};
  k.ukernel[1] = &ukernel_dot<Isa, 1, NR>;
  if constexpr (MR >= 2) k.ukernel[2] = &ukernel_dot<Isa, 2, NR>;
  if constexpr (MR >= 3) k.ukernel[3] = &ukernel_dot<Isa, 3, NR>;
  if constexpr (MR >= 4) k.ukernel[4] = &ukernel_dot<Isa, 4, NR>;
  if constexpr (MR >= 5) k.ukernel[5] = &ukernel_dot<Isa, 5, NR>;
  if constexpr (MR >= 6) k.ukernel[6] = &ukernel_dot<Isa, 6, NR>;
  if constexpr (MR >= 7) k.ukernel[7] = &ukernel_dot<Isa, 7, NR>;
  if constexpr (MR >= 8) k.ukernel[8] = &ukernel_dot<Isa, 8, NR>;
  return k;
}

// The kernel of table row I if that row names Isa, else an empty one (no micro-kernels).
template <class Isa, std::size_t I>
constexpr GemmKernel kernel_of_row() {
  constexpr GemmBlocking b = kCpuConfigs[I].gemm;
  if constexpr (same_name(b.isa, Isa::kName)) {
    static_assert(b.lanes == Isa::kLanes && blocking_is_valid(b));
    return make_kernel<Isa, b.mr, b.nr>(b);
  } else {
    return GemmKernel{b, {}};
  }
}

template <class Isa, std::size_t... I>
constexpr std::array<GemmKernel, sizeof...(I)> kernels_of_rows(std::index_sequence<I...>) {
  return {kernel_of_row<Isa, I>()...};
}

// One GemmKernel per row of kCpuConfigs, with micro-kernels in the rows of this ISA only.
template <class Isa>
constexpr auto kernels_of_isa() {
  return kernels_of_rows<Isa>(std::make_index_sequence<std::size(kCpuConfigs)>());
}

}  // namespace pocket::gemm_detail
