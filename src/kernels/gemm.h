// GEMM with fp16 weights:  Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]) (+ Y if accumulating)
//
// W is a Hugging Face Linear weight (out_features × in_features, row-major fp16), used in place
// from the memory-mapped checkpoint. X and Y are fp32; accumulation is fp32. Row strides (ldx,
// ldw, ldy, in elements) let callers address slices, e.g. the q/k/v thirds of a fused output.
//
// The perturbed forms evaluate the GEMM with W + c·z without ever writing W: the packer that
// converts W to fp32 panels adds c·z on the way (z: DESIGN.md, zrng.h). The two-stream form is
// MeZO's pair of evaluations, Y₊ = X₊(W+εz)ᵀ and Y₋ = X₋(W−εz)ᵀ, reading each W tile once.
//
// Results are bit-identical for any thread count (work is split over N, never over K) and
// depend on the kernel (SIMD path) only through the order of the fp32 sums.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/gemm_kernel.h"

namespace pocket {

// W'[n,k] = W[n,k] + scale · z[index_base + n·ldw + k], z = ±1 from (z_key) as in zrng.h:
// the flat index is the element's row-major index within the tensor that W points into.
struct GemmPerturbation {
  std::uint64_t z_key = 0;
  float scale = 0.0f;
  std::int64_t index_base = 0;
};

struct GemmOptions {
  const float* bias = nullptr;   // [N], added once to every row
  bool accumulate = false;       // Y += X·Wᵀ (+bias) instead of Y = X·Wᵀ (+bias)
  const GemmKernel* kernel = nullptr;  // nullptr: the compiled SIMD path (gemm_kernel_native)
};

void gemm_f16w(std::int64_t M, std::int64_t N, std::int64_t K, const float* x, std::int64_t ldx,
               const fp16* w, std::int64_t ldw, float* y, std::int64_t ldy,
               const GemmOptions& options = {}, const GemmPerturbation* perturbation = nullptr);

// MeZO's two evaluations in one pass over W:
//   y_plus  = x_plus ·(W + eps·z)ᵀ + bias_plus
//   y_minus = x_minus·(W − eps·z)ᵀ + bias_minus
// Biases are per stream because the caller perturbs them too (they are tiny). options.bias is
// ignored; both streams share ldx and ldy.
struct TwoStreamBias {
  const float* plus = nullptr;
  const float* minus = nullptr;
};
void gemm_f16w_two_stream(std::int64_t M, std::int64_t N, std::int64_t K, const float* x_plus,
                          const float* x_minus, std::int64_t ldx, const fp16* w, std::int64_t ldw,
                          float* y_plus, float* y_minus, std::int64_t ldy,
                          const GemmPerturbation& perturbation, TwoStreamBias bias = {},
                          const GemmOptions& options = {});

// Scalar reference: the triple loop, each dot product summed in k order, with W' = W + c·z
// materialised per element. The tests hold every fast path against it.
void gemm_f16w_ref(std::int64_t M, std::int64_t N, std::int64_t K, const float* x,
                   std::int64_t ldx, const fp16* w, std::int64_t ldw, float* y, std::int64_t ldy,
                   const float* bias, bool accumulate, const GemmPerturbation* perturbation);

// Per-worker scratch the GEMM needs for (M, K) with the given kernel. Reserving it up front
// (e.g. for the largest M of a model) means no GEMM call ever allocates.
std::size_t gemm_scratch_bytes(const GemmKernel& kernel, std::int64_t M, std::int64_t K,
                               int streams);

}  // namespace pocket
