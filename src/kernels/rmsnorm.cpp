#include "kernels/rmsnorm.h"

#include <cassert>
#include <cmath>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"

namespace pocket {

namespace {

void rmsnorm_row_ref(const float* x, float* out, std::int64_t C, const float* w, float eps) {
  float sq = 0.0f;
  for (std::int64_t i = 0; i < C; ++i) sq += x[i] * x[i];
  const float rms_inv = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
  for (std::int64_t i = 0; i < C; ++i) out[i] = x[i] * rms_inv * w[i];
}

#if !defined(POCKET_SIMD_SCALAR)
void rmsnorm_row_simd(const float* x, float* out, std::int64_t C, const float* w, float eps) {
  const std::int64_t vec_end = C - C % kFloatLanes;
  vfloat acc(0.0f);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    const vfloat v = vfloat::load_unaligned(x + i);
    acc = fmadd(v, v, acc);
  }
  float sq = reduce_sum(acc);
  for (std::int64_t i = vec_end; i < C; ++i) sq += x[i] * x[i];
  const float rms_inv = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);

  const vfloat vinv(rms_inv);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    (vfloat::load_unaligned(x + i) * vinv * vfloat::load_unaligned(w + i)).store_unaligned(out + i);
  }
  for (std::int64_t i = vec_end; i < C; ++i) out[i] = x[i] * rms_inv * w[i];
}
#endif

}  // namespace

void rmsnorm_ref(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
                 float eps) {
  assert(x && out && w && rows >= 0 && C > 0 && eps >= 0.0f);
  for (std::int64_t r = 0; r < rows; ++r) rmsnorm_row_ref(x + r * C, out + r * C, C, w, eps);
}

void rmsnorm(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
             float eps, ThreadPool& pool) {
  assert(x && out && w && rows >= 0 && C > 0 && eps >= 0.0f);
  parallel_rows(pool, rows, 3 * C, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
#if defined(POCKET_SIMD_SCALAR)
      rmsnorm_row_ref(x + r * C, out + r * C, C, w, eps);
#else
      rmsnorm_row_simd(x + r * C, out + r * C, C, w, eps);
#endif
    }
  });
}

}  // namespace pocket
