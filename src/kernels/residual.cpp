#include "kernels/residual.h"

#include <cassert>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"

namespace pocket {

void residual_add_ref(float* y, const float* x, std::int64_t n) {
  assert((y && x) || n == 0);
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void residual_add(float* y, const float* x, std::int64_t n, ThreadPool& pool) {
  assert((y && x) || n == 0);
  parallel_rows(pool, n, 1, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t i = begin;
#if !defined(POCKET_SIMD_SCALAR)
    for (; i + kFloatLanes <= end; i += kFloatLanes) {
      (vfloat::load_unaligned(y + i) + vfloat::load_unaligned(x + i)).store_unaligned(y + i);
    }
#endif
    for (; i < end; ++i) y[i] += x[i];
  });
}

}  // namespace pocket
