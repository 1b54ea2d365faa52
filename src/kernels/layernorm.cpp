#include "kernels/layernorm.h"

#include <cassert>
#include <cmath>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"

namespace pocket {

namespace {

// Two passes (mean, then the squared deviations) rather than E[x²] - mean²: the one-pass form
// cancels catastrophically when |mean| >> std, which activations with a large offset do have.
void layernorm_row_ref(const float* x, float* out, std::int64_t C, const float* w, const float* b,
                       float eps) {
  float sum = 0.0f;
  for (std::int64_t i = 0; i < C; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(C);
  float sq = 0.0f;
  for (std::int64_t i = 0; i < C; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
  for (std::int64_t i = 0; i < C; ++i) {
    const float n = (x[i] - mean) * rstd * w[i];
    out[i] = b ? n + b[i] : n;
  }
}

#if !defined(POCKET_SIMD_SCALAR)
void layernorm_row_simd(const float* x, float* out, std::int64_t C, const float* w, const float* b,
                        float eps) {
  const std::int64_t vec_end = C - C % kFloatLanes;
  vfloat acc(0.0f);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) acc += vfloat::load_unaligned(x + i);
  float sum = reduce_sum(acc);
  for (std::int64_t i = vec_end; i < C; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(C);

  const vfloat vmean(mean);
  acc = vfloat(0.0f);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    const vfloat d = vfloat::load_unaligned(x + i) - vmean;
    acc = fmadd(d, d, acc);
  }
  float sq = reduce_sum(acc);
  for (std::int64_t i = vec_end; i < C; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);

  const vfloat vrstd(rstd);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    const vfloat n =
        (vfloat::load_unaligned(x + i) - vmean) * vrstd * vfloat::load_unaligned(w + i);
    (b ? n + vfloat::load_unaligned(b + i) : n).store_unaligned(out + i);
  }
  for (std::int64_t i = vec_end; i < C; ++i) {
    const float n = (x[i] - mean) * rstd * w[i];
    out[i] = b ? n + b[i] : n;
  }
}
#endif

}  // namespace

void layernorm_ref(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
                   const float* b, float eps) {
  assert(x && out && w && rows >= 0 && C > 0 && eps >= 0.0f);
  for (std::int64_t r = 0; r < rows; ++r) layernorm_row_ref(x + r * C, out + r * C, C, w, b, eps);
}

void layernorm(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
               const float* b, float eps, ThreadPool& pool) {
  assert(x && out && w && rows >= 0 && C > 0 && eps >= 0.0f);
  parallel_rows(pool, rows, 3 * C, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
#if defined(POCKET_SIMD_SCALAR)
      layernorm_row_ref(x + r * C, out + r * C, C, w, b, eps);
#else
      layernorm_row_simd(x + r * C, out + r * C, C, w, b, eps);
#endif
    }
  });
}

}  // namespace pocket
