// GEMM over a weight view:  Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]) (+ Y if accumulating)
//
// W is a Hugging Face Linear weight (out_features × in_features, row-major), read in place
// through a WeightView (fp16 from the memory-mapped checkpoint, fp32, or a GGUF block format). X
// and Y are fp32; accumulation is fp32. Row strides (ldx, ldw, ldy, in elements) let callers
// address slices, e.g. the q/k/v thirds of a fused output.
//
// Perturbed streams evaluate the GEMM with W + c·z without ever writing W: the packer that
// converts W to fp32 panels adds c·z on the way (z: DESIGN.md, zrng.h). S streams read each W
// tile once: MeZO's pair Y₊ = X₊(W+εz)ᵀ, Y₋ = X₋(W−εz)ᵀ is S = 2 with one key.
//
// Results are bit-identical for any thread count (work is split over N, never over K) and
// depend on the kernel (SIMD path) only through the order of the fp32 sums.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/gemm_kernel.h"
#include "kernels/weight_view.h"

namespace pocket {

class ThreadPool;

// One stream of a call: its X (row stride ldx), its Y (row stride ldy) and its bias ([N] or null,
// added once to every row; per stream because the caller perturbs biases too).
struct GemmStream {
  const float* x = nullptr;
  float* y = nullptr;
  const float* bias = nullptr;
};

struct GemmOptions {
  bool accumulate = false;             // Y += X·Wᵀ (+bias) instead of Y = X·Wᵀ (+bias)
  const GemmKernel* kernel = nullptr;  // nullptr: the compiled SIMD path (gemm_kernel_native)
  ThreadPool* pool = nullptr;          // the threads and their scratch; nullptr: default_pool()
};

// For s < n_streams (1 ≤ n_streams ≤ kMaxStreams):
//   Y_s[M, N] = X_s[M, K] · W_sᵀ (+ bias_s) (+ Y_s if accumulating),   N = w.rows, K = w.cols
// with W_s = W + z.scale[s]·z_{z.key[s]} as in weight_view.h (z null or z->streams = 0: W_s = W;
// otherwise z->streams = n_streams). ldw = w.stride. Streams with equal keys share one
// generation of z; a scale of 0 reads W itself. w.format is F16, F32, or a block format: read
// unperturbed (every scale 0), a block format takes the integer GEMM (gemm_quant.h) for every
// stream, else the packer dequantizes it (dequantize_row's values, then + c·z).
void gemm(std::int64_t M, const WeightView& w, int n_streams, const GemmStream* streams,
          std::int64_t ldx, std::int64_t ldy, const GemmOptions& options = {},
          const WeightPerturbation* z = nullptr);

// Scalar reference for one stream: the triple loop, each dot product summed in k order, with
// W' = W + scale·z_key materialised per element (scale 0: W itself), W's rows decoded with
// dequantize_row. The tests hold every fast path against it.
void gemm_ref(std::int64_t M, const WeightView& w, const GemmStream& stream, std::int64_t ldx,
              std::int64_t ldy, bool accumulate, std::uint64_t z_key = 0, float scale = 0.0f,
              std::int64_t index_base = 0);

// Per-worker scratch the GEMM needs for (M, K) with the given kernel. Reserving it up front
// (e.g. for the largest M of a model) means no GEMM call ever allocates.
std::size_t gemm_scratch_bytes(const GemmKernel& kernel, std::int64_t M, std::int64_t K,
                               int streams);

}  // namespace pocket
