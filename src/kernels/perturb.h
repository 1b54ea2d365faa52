// Perturbed fp32 copies of the small parameters of a ZO stream (biases, norm weights): the
// vectors a forward reads as fp32, perturbed once per step into per-stream buffers instead of
// inside a kernel (src/zo/README.md: P± = f32(P) ± eps·z_P).
#pragma once

#include "kernels/thread_pool.h"

#include <cstddef>
#include <cstdint>

namespace pocket {

// dst[i] = src[i] + scale · z[index_base + i],  i < n
//
// z = z_sign(z_key, ·) (zrng.h); scale·z = ±scale is exact, so this is one fp32 addition per
// element (round to nearest even). index_base is the flat index of src[0] within its tensor.
// dst may equal src (in place); otherwise they must not overlap.
void perturb_copy_ref(const float* src, float* dst, std::size_t n, std::uint64_t z_key, float scale,
                      std::uint64_t index_base);
// The same with SIMD lanes and the default pool; bit-identical to the reference.
void perturb_copy(const float* src, float* dst, std::size_t n, std::uint64_t z_key, float scale,
                  std::uint64_t index_base, ThreadPool& pool = default_pool());

}  // namespace pocket
