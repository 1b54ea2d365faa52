// The ISA-specific part of the GEMM: one micro-kernel per ISA and one row of block sizes.
// Everything else (packing, blocking loops, threads) is written once in gemm.cpp/gemm_pack.cpp.
//
// The micro-kernel works on dot-product tiles (as gemma.cpp's MatMul, since W is stored Bᵀ):
// an MR×NR tile of Y is kept as MR·NR vector accumulators over K lanes,
//     acc[i][j] += xp[i, k:k+L] ⊙ wp[j, k:k+L]        for each L-wide chunk of the K block
// and reduced horizontally once per K block. Packed panels are contiguous along K, so packing W
// is a straight fp16→fp32 stream (plus c·z for perturbed evaluation) with no transposes.
//
// Packed layouts (L = lanes, kcp = K block rounded up to L, zero padded):
//   X panel of m rows:  xp[(c·m + i)·L + l]  = X[i, c·L + l]     i < m ≤ MR
//   W panel of NR rows: wp[(c·NR + j)·L + l] = W'[j, c·L + l]    rows past N are zero
//
// Porting to a new SoC = a new gemm_ukernel_<isa>.cpp + its row in kGemmBlocking + tests passing.
#pragma once

#include <cstdint>

#include "kernels/weight_view.h"

namespace pocket {

// Stores one tile: y[i·ldy + j] = (accumulate ? y[i·ldy + j] : 0) + Σ_k xp[i,k]·wp[j,k]
//                                 + (bias ? bias[j] : 0)          for i < m, j < n.
// `m` equals the panel height the function was instantiated for; n ≤ NR.
using GemmUkernel = void (*)(std::int64_t kcp, const float* xp, const float* wp, float* y,
                             std::int64_t ldy, int n, const float* bias, bool accumulate);

inline constexpr int kGemmMaxMr = 8;

// One row of block sizes. lanes: floats per vector; mr × nr: register tile; kc: K block (a
// multiple of lanes; X and W panels of kc floats per row stay in L1/L2); mb: X rows packed per
// block (the packed X block, mb × kc floats per stream, stays in L2); nc: W panels (of nr rows)
// packed per block, all streams together (the packed W block, nc × nr × kc floats, stays in L2).
struct GemmBlocking {
  const char* isa;
  int lanes, mr, nr, kc, mb, nc;
};

//                                   isa       lanes mr nr  kc   mb   nc
inline constexpr GemmBlocking kGemmBlocking[] = {
    {"avx512", 16, 4, 6, 1024, 256, 32},
    {"avx2", 8, 3, 4, 512, 252, 64},
    {"neon", 4, 4, 6, 256, 256, 64},
    {"scalar", 1, 4, 4, 256, 256, 64},
};

constexpr bool blocking_is_valid(const GemmBlocking& b) {
  return b.mr >= 1 && b.mr <= kGemmMaxMr && b.kc % b.lanes == 0 && b.mb % b.mr == 0 &&
         b.nc >= kMaxStreams;
}
static_assert(blocking_is_valid(kGemmBlocking[0]) && blocking_is_valid(kGemmBlocking[1]) &&
              blocking_is_valid(kGemmBlocking[2]) && blocking_is_valid(kGemmBlocking[3]));

constexpr const GemmBlocking& gemm_blocking(const char* isa) {
  for (const auto& row : kGemmBlocking) {
    const char* a = row.isa;
    const char* b = isa;
    while (*a && *a == *b) ++a, ++b;
    if (*a == *b) return row;
  }
  return kGemmBlocking[3];
}

struct GemmKernel {
  GemmBlocking blocking;
  GemmUkernel ukernel[kGemmMaxMr + 1];  // ukernel[m]: panels of m rows, 1 ≤ m ≤ mr
};

// The kernel of the compiled SIMD path, and the portable scalar one (always available).
const GemmKernel& gemm_kernel_native();
const GemmKernel& gemm_kernel_scalar();

}  // namespace pocket
