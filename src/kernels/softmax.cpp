#include "kernels/softmax.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"
#include "kernels/simd_reduce.h"

namespace pocket {

namespace {

void softmax_row_ref(float* x, std::int64_t n, std::int64_t len) {
  float max = x[0];
  for (std::int64_t i = 1; i < len; ++i) max = std::max(max, x[i]);
  float sum = 0.0f;
  for (std::int64_t i = 0; i < len; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv_sum = 1.0f / sum;
  for (std::int64_t i = 0; i < len; ++i) x[i] *= inv_sum;
  for (std::int64_t i = len; i < n; ++i) x[i] = 0.0f;
}

#if !defined(POCKET_SIMD_SCALAR)
void softmax_row_simd(float* x, std::int64_t n, std::int64_t len) {
  const std::int64_t vec_end = len - len % kFloatLanes;
  float max = x[0];
  if (vec_end > 0) {
    vfloat vmax = vfloat::load_unaligned(x);
    for (std::int64_t i = kFloatLanes; i < vec_end; i += kFloatLanes) {
      vmax = xsimd::max(vmax, vfloat::load_unaligned(x + i));
    }
    max = hmax(vmax);
  }
  for (std::int64_t i = vec_end; i < len; ++i) max = std::max(max, x[i]);

  const vfloat vmax(max);
  vfloat acc(0.0f);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    const vfloat e = xsimd::exp(vfloat::load_unaligned(x + i) - vmax);
    e.store_unaligned(x + i);
    acc += e;
  }
  float sum = reduce_sum(acc);
  for (std::int64_t i = vec_end; i < len; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }

  const float inv_sum = 1.0f / sum;
  const vfloat vinv(inv_sum);
  for (std::int64_t i = 0; i < vec_end; i += kFloatLanes) {
    (vfloat::load_unaligned(x + i) * vinv).store_unaligned(x + i);
  }
  for (std::int64_t i = vec_end; i < len; ++i) x[i] *= inv_sum;
  std::fill(x + len, x + n, 0.0f);
}
#endif

}  // namespace

void softmax_ref(float* x, std::int64_t rows, std::int64_t n, std::int64_t len) {
  assert(x && rows >= 0 && 0 < len && len <= n);
  for (std::int64_t r = 0; r < rows; ++r) softmax_row_ref(x + r * n, n, len);
}

void softmax(float* x, std::int64_t rows, std::int64_t n, std::int64_t len, ThreadPool& pool) {
  assert(x && rows >= 0 && 0 < len && len <= n);
  parallel_rows(pool, rows, 2 * n, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
#if defined(POCKET_SIMD_SCALAR)
      softmax_row_ref(x + r * n, n, len);
#else
      softmax_row_simd(x + r * n, n, len);
#endif
    }
  });
}

}  // namespace pocket
