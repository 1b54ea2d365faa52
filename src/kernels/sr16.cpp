#include "kernels/sr16.h"

#include <algorithm>

#include "kernels/fp16_simd.h"

namespace pocket {

namespace {
// Elements per block of random words: the words are made by scalar code (mix64 needs 64-bit
// multiplies, slow or absent in AVX2/NEON vectors) into this stack buffer, then consumed by SIMD.
constexpr std::size_t kSrBlock = 256;
}  // namespace

void f32_to_f16_sr_ref(const float* in, fp16* out, std::size_t n, std::uint64_t sr_key,
                       std::uint64_t index_base) {
  for (std::size_t i = 0; i < n; ++i)
    out[i] = f32_to_f16_sr(in[i], sr_bits(sr_key, index_base + i));
}

void f32_to_f16_sr(const float* in, fp16* out, std::size_t n, std::uint64_t sr_key,
                   std::uint64_t index_base) {
  std::uint32_t random_bits[kSrBlock];
  for (std::size_t start = 0; start < n; start += kSrBlock) {
    const std::size_t len = std::min(kSrBlock, n - start);
    fill_sr_bits(sr_key, index_base + start, len, random_bits);
    std::size_t k = 0;
#if !defined(POCKET_SIMD_SCALAR)
    for (; k + kFloatLanes <= len; k += kFloatLanes) {
      const auto bits = xsimd::batch<std::uint32_t>::load_unaligned(random_bits + k);
      store_f16(out + start + k, f32_to_f16_sr_lanes(vfloat::load_unaligned(in + start + k), bits));
    }
#endif
    for (; k < len; ++k) out[start + k] = f32_to_f16_sr(in[start + k], random_bits[k]);
  }
}

}  // namespace pocket
