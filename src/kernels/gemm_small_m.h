// GEMM for one or two rows of X (decode steps, gemv): W is read in place, fp16 → fp32 in
// registers, without packing. At M ≤ 2 each W element is used once or twice, so packing it
// (a store and a reload per element) would cost more than the arithmetic; the time is the
// stream of fp16 weights from memory, half the bytes of an fp32 gemv.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_pack.h"

namespace pocket::gemm_detail {

inline constexpr int kSmallM = 2;

// Y_s = X_s·(W + scale[s]·z)ᵀ (+ bias_s) (+ Y_s) for M ≤ kSmallM rows and s < n_streams, N and K
// from w. Returns false (doing nothing) where this path does not apply: the scalar build, a
// format other than F16, more than 2 streams or more than one key (the packed path takes them).
bool gemm_small_m(std::int64_t M, const WeightView& w, std::int64_t ldx, std::int64_t ldy,
                  int n_streams, const GemmStream* streams, bool accumulate, const WPackZ& z);

}  // namespace pocket::gemm_detail
