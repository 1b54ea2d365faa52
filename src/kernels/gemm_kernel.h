// The ISA-specific part of the GEMM: a micro-kernel and a row of block sizes, chosen at run time
// for the CPU (cpu_config.h). Everything else (packing, blocking loops, threads) is written once
// in gemm.cpp/gemm_pack.cpp.
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
// Porting to a new SoC: src/kernels/README.md ("A new CPU").
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_view.h"

namespace pocket {

// Stores one tile: y[i·ldy + j] = (accumulate ? y[i·ldy + j] : 0) + Σ_k xp[i,k]·wp[j,k]
//                                 + (bias ? bias[j] : 0)          for i < m, j < n.
// `m` equals the panel height the function was instantiated for; n ≤ NR.
using GemmUkernel = void (*)(std::int64_t kcp, const float* xp, const float* wp, float* y,
                             std::int64_t ldy, int n, const float* bias, bool accumulate);

inline constexpr int kGemmMaxMr = 8;

// One row of block sizes (BLIS's MR, NR, KC, MC; no NC: gemm.cpp packs one W panel at a time,
// see there why). isa: the kernel set (arch/<isa>/); lanes: floats per vector; mr × nr: register
// tile; kc: K block (a multiple of lanes; X and W panels of kc floats per row stay in L1/L2);
// mb (MC): X rows packed per block (the packed X block, mb × kc floats for all streams together,
// stays in L2).
//
// lanes and kc fix the order of every sum, so all rows of one isa share them: a run gives the
// same bits on every CPU of that kernel set, whichever row it gets (tests/kernels/cpu_config_test).
struct GemmBlocking {
  const char* isa;
  int lanes, mr, nr, kc, mb;
};

constexpr bool blocking_is_valid(const GemmBlocking& b) {
  return b.lanes >= 1 && b.mr >= 1 && b.mr <= kGemmMaxMr && b.nr >= 1 && b.kc >= b.lanes &&
         b.kc % b.lanes == 0 && b.mb >= b.mr && b.mb % b.mr == 0;
}

struct GemmKernel {
  GemmBlocking blocking;
  GemmUkernel ukernel[kGemmMaxMr + 1];  // ukernel[m]: panels of m rows, 1 ≤ m ≤ mr
};

// The kernel of the CPU config chosen for this machine (cpu_config()), and the portable scalar one
// (always available).
const GemmKernel& gemm_kernel_native();
const GemmKernel& gemm_kernel_scalar();

// The kernel of row `row` of kCpuConfigs, or nullptr when this binary has no micro-kernels for
// that row's isa (not this architecture, or the files of arch/<isa>/ were built without its
// flags). One function per kernel set, defined in arch/<isa>/gemm_ukernel.cpp.
namespace avx512 {
const GemmKernel* gemm_kernel_of_row(std::size_t row);
}
namespace avx2 {
const GemmKernel* gemm_kernel_of_row(std::size_t row);
}
namespace neon {
const GemmKernel* gemm_kernel_of_row(std::size_t row);
}
namespace scalar {
const GemmKernel* gemm_kernel_of_row(std::size_t row);
}

}  // namespace pocket
