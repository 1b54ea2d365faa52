// Stochastic rounding fp32 -> fp16: the rounding of every ZO weight update (DESIGN.md, "One ZO
// step"). A MeZO step changes a weight by ~1e-7 while an fp16 ulp near 1.0 is ~1e-3, so
// round-to-nearest would drop almost every update; stochastic rounding keeps it in expectation.
//
// For x strictly between two adjacent fp16 values lo and hi, |lo| < |x| < |hi|:
//
//   frac = (|x| - |lo|) / (|hi| - |lo|)          in (0, 1), exact in fp32 arithmetic
//   u    = (random_bits >> 8) / 2^24              the top 24 random bits, uniform in [0, 1)
//   SR(x) = u < frac ? hi : lo                    so E[SR(x)] = lo + frac * ulp = x
//
// fp16 values are returned unchanged (frac = 0), through the subnormals (ulp 2^-24) as well.
// P(hi) is exactly frac wherever frac is a multiple of 2^-24, i.e. for every |x| >= 2^-25; below,
// it is ceil(frac * 2^24) / 2^24, a bias under 2^-24 of an ulp (2^-48 absolute).
//
// The random bits are an input, so the result is a pure function of (x, bits): the scalar and
// SIMD paths below agree bit for bit. Bulk conversions take element i's bits from the SR stream
// of zrng.h, sr_bits(sr_key, index_base + i), so any tile is reproducible alone.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"

namespace pocket {

// 65504, the largest finite fp16, as fp32 bits and fp16 bits.
inline constexpr std::uint32_t kF16MaxAsF32Bits = 0x477FE000u;
inline constexpr fp16 kF16MaxBits = 0x7BFFu;

// SR(x) as above. Out of range: finite |x| >= 65504 saturates to ±65504 instead of rounding to
// ±Inf, because a weight must never become Inf through an update (the next forward pass would turn
// it into NaN losses and every later step would be rejected). ±Inf and NaN keep their class, as
// f32_to_f16_scalar converts them (NaN stays NaN, quieted, top payload bits kept).
//
// Normal fp16 range (|x| >= 2^-14): lo is x with its 13 low mantissa bits dropped, and
// frac = rest / 2^13, so u < frac <=> u24 < rest * 2^11 in integers.
// Subnormal range: |x| = t * 2^-24 with t < 1024; lo = floor(t), and u < frac <=>
// u24 < (t - floor(t)) * 2^24, every step exact in fp32.
inline fp16 f32_to_f16_sr(float x, std::uint32_t random_bits) {
  const std::uint32_t bits = f32_bits(x);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return f32_to_f16_scalar(x);  // ±Inf, NaN
  if (abs >= kF16MaxAsF32Bits) return static_cast<fp16>(sign | kF16MaxBits);
  const std::uint32_t u24 = random_bits >> 8;
  if (abs >= 0x38800000u) {  // |x| >= 2^-14
    // Rebias the exponent (fp32 127 -> fp16 15); a carry out of the mantissa bumps the exponent.
    const std::uint32_t rebased = abs - (112u << 23);
    const std::uint32_t rest = rebased & 0x1FFFu;
    const std::uint32_t away = u24 < (rest << 11) ? 1u : 0u;
    return static_cast<fp16>(sign | ((rebased >> 13) + away));
  }
  const float t = f32_from_bits(abs) * 16777216.0f;  // |x| * 2^24, exact
  const std::uint32_t lo = static_cast<std::uint32_t>(t);
  const float frac = t - static_cast<float>(lo);
  const std::uint32_t away = static_cast<float>(u24) < frac * 16777216.0f ? 1u : 0u;
  return static_cast<fp16>(sign | (lo + away));
}

// out[k] = sr_bits(sr_key, first + k) for k < n, one mix64 per two elements. mix64 needs 64-bit
// multiplies: AVX-512DQ has them in vectors (8 words per step, ~3x the scalar rate); AVX2 and NEON
// do not, and there the scalar loop is the fastest way.
inline void fill_sr_bits(std::uint64_t sr_key, std::uint64_t first, std::size_t n,
                         std::uint32_t* out) {
  std::size_t k = 0;
  std::uint64_t index = first;
  if (n > 0 && (index & 1u)) {
    out[k++] = sr_bits(sr_key, index++);
  }
#if defined(POCKET_SIMD_AVX512) && defined(__AVX512DQ__)
  const std::size_t blocks = (n - k) / 16;
  simd::fill_sr_bits_x16(sr_key, kGamma, index, blocks, out + k);
  k += 16 * blocks;
  index += 16 * blocks;
#endif
  for (; k + 2 <= n; k += 2, index += 2) {
    const std::uint64_t word = z_word(sr_key, index >> 1);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out + k, &word, 8);  // one store: low half first, as sr_bits orders them
    } else {
      out[k] = static_cast<std::uint32_t>(word);
      out[k + 1] = static_cast<std::uint32_t>(word >> 32);
    }
  }
  if (k < n) out[k] = sr_bits(sr_key, index);
}

// out[i] = SR(in[i], sr_bits(sr_key, index_base + i)), i < n. SIMD where the path has it.
void f32_to_f16_sr(const float* in, fp16* out, std::size_t n, std::uint64_t sr_key,
                   std::uint64_t index_base);
// The same, one element at a time with the scalar function above.
void f32_to_f16_sr_ref(const float* in, fp16* out, std::size_t n, std::uint64_t sr_key,
                       std::uint64_t index_base);

#if !defined(POCKET_SIMD_SCALAR)
// SR on one register of lanes, as fp32: the result is an fp16 value (or x itself when x is Inf or
// NaN), so store_f16's round-to-nearest stores it unchanged and equal to f32_to_f16_sr.
//
// Float formulation of the same rule, every operation exact:
//   m    = min(|x|, 65504)                       saturation
//   ulp  = max(2^(exponent(m) - 10), 2^-24)      the fp16 spacing at m (built from exponent bits)
//   t    = m / ulp  (multiply by 2^-k)           < 2048, fits the fp32 mantissa
//   frac = t - floor(t);  q = floor(t) + (u < frac)
//   SR   = ±q * ulp
inline vfloat f32_to_f16_sr_lanes(vfloat x, xsimd::batch<std::uint32_t> random_bits) {
  using vint = xsimd::batch<std::int32_t>;
  const vint bits = xsimd::bitwise_cast<vint>(x);
  const vint sign = bits & vint(static_cast<std::int32_t>(0x80000000u));
  const vfloat abs = xsimd::bitwise_cast<vfloat>(bits & vint(0x7FFFFFFF));
  const vfloat m = xsimd::min(abs, vfloat(65504.0f));
  const vint exponent = xsimd::bitwise_cast<vint>(m) & vint(0x7F800000);
  // 2^(e - 10) for normal m; for m < 2^-14 the subtraction drops below 2^-24 (or below zero, as a
  // signed integer) and the max picks 2^-24 (bits 0x33800000).
  const vint ulp_bits = xsimd::max(exponent - vint(10 << 23), vint(0x33800000));
  const vfloat ulp = xsimd::bitwise_cast<vfloat>(ulp_bits);
  const vfloat inv_ulp = xsimd::bitwise_cast<vfloat>(vint(0x7F000000) - ulp_bits);  // 1/2^k
  const vfloat t = m * inv_ulp;
  const vfloat lo = xsimd::floor(t);
  const vfloat frac = t - lo;
  const vint u24 = xsimd::bitwise_cast<vint>(random_bits >> 8);
  const vfloat u = xsimd::to_float(u24) * vfloat(1.0f / 16777216.0f);
  const vfloat q = lo + xsimd::select(u < frac, vfloat(1.0f), vfloat(0.0f));
  const vfloat rounded = xsimd::bitwise_cast<vfloat>(xsimd::bitwise_cast<vint>(q * ulp) | sign);
  return xsimd::select(abs <= vfloat(3.40282347e38f), rounded, x);  // Inf, NaN: x itself
}
#endif

}  // namespace pocket
