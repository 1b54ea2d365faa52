#include "kernels/perturb.h"

#include <cassert>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "kernels/zrng_simd.h"

namespace pocket {

void perturb_copy_ref(const float* src, float* dst, std::size_t n, std::uint64_t z_key, float scale,
                      std::uint64_t index_base) {
  assert(n == 0 || (src && dst));
  for (std::size_t i = 0; i < n; ++i) {
    const float sz = scale * z_sign(z_key, index_base + i);
    dst[i] = src[i] + sz;
  }
}

void perturb_copy(const float* src, float* dst, std::size_t n, std::uint64_t z_key, float scale,
                  std::uint64_t index_base, ThreadPool& pool) {
  assert(n == 0 || (src && dst));
  // Elements as rows of cost 1: blocks of kParallelGrain, each reading z from its own start.
  parallel_rows(pool, static_cast<std::int64_t>(n), 1, [&](std::int64_t begin, std::int64_t end) {
    ZBitReader bits(z_key, index_base + static_cast<std::uint64_t>(begin));
    std::int64_t i = begin;
#if !defined(POCKET_SIMD_SCALAR)
    for (; i + kFloatLanes <= end; i += kFloatLanes) {
      (vfloat::load_unaligned(src + i) + signed_lanes(bits.take(kFloatLanes), scale))
          .store_unaligned(dst + i);
    }
#endif
    for (; i < end; ++i) dst[i] = src[i] + (bits.take(1) ? scale : -scale);
  });
}

}  // namespace pocket
