// GEMM for up to 16 rows of X (decode steps, gemv, small batches): W is read in place, fp16 →
// fp32 in registers, without packing. At M ≤ 16 each W element is used at most 16 times, so
// packing it (a store and a reload per element, and the packed path's X blocks) costs more than
// it saves; at M ≤ 4 the time is the stream of fp16 weights from memory, half the bytes of an
// fp32 gemv (bench-gemm --decode measures it against the read bandwidth).
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_pack.h"

namespace pocket::gemm_detail {

inline constexpr int kSmallM = 16;

// Y_s = X_s·(W + scale[s]·z)ᵀ (+ bias_s) (+ Y_s) for M ≤ kSmallM rows and s < n_streams, N and K
// from w, any number of streams and keys. Returns false (doing nothing) where this path does not
// apply: the scalar build or a format other than F16 (the packed path takes them). Which path a
// call takes depends on M and the format only, never on the streams.
bool gemm_small_m(ThreadPool& pool, std::int64_t M, const WeightView& w, std::int64_t ldx,
                  std::int64_t ldy, int n_streams, const GemmStream* streams, bool accumulate,
                  const WPackZ& z);

}  // namespace pocket::gemm_detail
