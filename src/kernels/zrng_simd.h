// z on SIMD lanes: turns kFloatLanes consecutive bits of the z stream into a vector of ±c, and
// reads those bits sequentially along a flat index range (a row of a weight tensor).
#pragma once

#include <cstdint>

#include "kernels/simd.h"
#include "kernels/zrng.h"

#if defined(POCKET_SIMD_AVX512) || defined(POCKET_SIMD_AVX2)
#include <immintrin.h>
#elif defined(POCKET_SIMD_NEON)
#include <arm_neon.h>
#endif

namespace pocket {

// Sequential reader of z bits from flat index i0 on: take(n) returns the next n (≤ 32) bits,
// bit b of the result being z's bit for index i0 + (bits taken before) + b. One z_word per 64
// elements, as the definition has it.
class ZBitReader {
 public:
  ZBitReader(std::uint64_t key, std::uint64_t i0)
      : key_(key), word_index_(i0 >> 6), offset_(static_cast<int>(i0 & 63)),
        word_(z_word(key, i0 >> 6)) {}

  std::uint32_t take(int n) {
    std::uint64_t bits = word_ >> offset_;
    offset_ += n;
    if (offset_ >= 64) {
      word_ = z_word(key_, ++word_index_);
      offset_ -= 64;
      if (offset_ > 0) bits |= word_ << (n - offset_);
    }
    return static_cast<std::uint32_t>(bits & ((std::uint64_t{1} << n) - 1));
  }

 private:
  std::uint64_t key_;
  std::uint64_t word_index_;
  int offset_;
  std::uint64_t word_;
};

#if !defined(POCKET_SIMD_SCALAR)
// Lane l of the result is +c if bit l of `bits` is set, else -c  (i.e. c·z on kFloatLanes lanes).
inline vfloat signed_lanes(std::uint32_t bits, float c) {
#if defined(POCKET_SIMD_AVX512)
  return _mm512_mask_blend_ps(static_cast<__mmask16>(bits), _mm512_set1_ps(-c),
                              _mm512_set1_ps(c));
#elif defined(POCKET_SIMD_AVX2)
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_cmpeq_epi32(
      _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane_bit), lane_bit);
  return _mm256_blendv_ps(_mm256_set1_ps(-c), _mm256_set1_ps(c), _mm256_castsi256_ps(set));
#else
  const uint32x4_t lane_bit = {1, 2, 4, 8};
  const uint32x4_t set = vtstq_u32(vdupq_n_u32(bits), lane_bit);
  return vbslq_f32(set, vdupq_n_f32(c), vdupq_n_f32(-c));
#endif
}
#endif

}  // namespace pocket
