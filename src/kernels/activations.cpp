#include "kernels/activations.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"

namespace pocket {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluTanhCubic = 0.044715f;

float gelu_one(float x) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); }
float gelu_tanh_one(float x) {
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kGeluTanhCubic * x * x * x)));
}
float relu_one(float x) { return x > 0.0f ? x : 0.0f; }
float silu_one(float x) { return x / (1.0f + std::exp(-x)); }

template <class ScalarOp>
void map_ref(const float* x, float* out, std::int64_t n, ScalarOp op) {
  assert((x && out) || n == 0);
  for (std::int64_t i = 0; i < n; ++i) out[i] = op(x[i]);
}

// The fast form: vector_op on whole registers, scalar_op on the tail, threads over blocks.
template <class VectorOp, class ScalarOp>
void map_fast(const float* x, float* out, std::int64_t n, [[maybe_unused]] VectorOp vector_op,
              ScalarOp scalar_op, ThreadPool& pool) {
  assert((x && out) || n == 0);
  parallel_rows(pool, n, 1, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t i = begin;
#if !defined(POCKET_SIMD_SCALAR)
    for (; i + kFloatLanes <= end; i += kFloatLanes) {
      vector_op(vfloat::load_unaligned(x + i)).store_unaligned(out + i);
    }
#endif
    for (; i < end; ++i) out[i] = scalar_op(x[i]);
  });
}

#if defined(POCKET_SIMD_SCALAR)
// Stands in for the vector lambdas, which the scalar build never calls.
constexpr auto kNoVectorOp = [](auto v) { return v; };
#endif

}  // namespace

void gelu_ref(const float* x, float* out, std::int64_t n) { map_ref(x, out, n, gelu_one); }
void gelu_tanh_ref(const float* x, float* out, std::int64_t n) {
  map_ref(x, out, n, gelu_tanh_one);
}
void relu_ref(const float* x, float* out, std::int64_t n) { map_ref(x, out, n, relu_one); }
void silu_ref(const float* x, float* out, std::int64_t n) { map_ref(x, out, n, silu_one); }

#if defined(POCKET_SIMD_SCALAR)
void gelu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  map_fast(x, out, n, kNoVectorOp, gelu_one, pool);
}
void gelu_tanh(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  map_fast(x, out, n, kNoVectorOp, gelu_tanh_one, pool);
}
void relu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  map_fast(x, out, n, kNoVectorOp, relu_one, pool);
}
void silu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  map_fast(x, out, n, kNoVectorOp, silu_one, pool);
}
#else
void gelu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  const auto op = [](vfloat v) { return 0.5f * v * (1.0f + xsimd::erf(v * kInvSqrt2)); };
  map_fast(x, out, n, op, gelu_one, pool);
}
void gelu_tanh(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  const auto op = [](vfloat v) {
    return 0.5f * v * (1.0f + xsimd::tanh(kSqrt2OverPi * (v + kGeluTanhCubic * v * v * v)));
  };
  map_fast(x, out, n, op, gelu_tanh_one, pool);
}
void relu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  const auto op = [](vfloat v) { return xsimd::max(v, vfloat(0.0f)); };
  map_fast(x, out, n, op, relu_one, pool);
}
void silu(const float* x, float* out, std::int64_t n, ThreadPool& pool) {
  const auto op = [](vfloat v) { return v / (1.0f + xsimd::exp(-v)); };
  map_fast(x, out, n, op, silu_one, pool);
}
#endif

}  // namespace pocket
