// IEEE 754 binary16 <-> binary32 conversion.
//
// fp16 values are carried as their bit pattern (uint16_t): checkpoints hold them that way and the
// compilers we support disagree on a native half type. f32 -> f16 rounds to nearest, ties to even;
// NaNs stay NaN with the top payload bits kept and the quiet bit set, exactly as F16C's vcvtps2ph
// and NEON's fcvt do, so every path produces the same bits for every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pocket {

using fp16 = std::uint16_t;

inline std::uint32_t f32_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float f32_from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// bf16 is the top half of an fp32: widening is a shift, exact for every value.
inline float bf16_to_f32(std::uint16_t h) {
  return f32_from_bits(static_cast<std::uint32_t>(h) << 16);
}

// Exact widening: every fp16 value (subnormals, ±Inf) has an fp32 twin; NaNs keep their payload.
inline float f16_to_f32_scalar(fp16 h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) {  // Inf, or NaN: quieted as the hardware conversions do
    return f32_from_bits(sign | 0x7F800000u | (mant ? 0x400000u | (mant << 13) : 0u));
  }
  if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);  // ±0
  // Subnormal: value = mant * 2^-24; normalise so the leading 1 becomes implicit.
  int e = 113;  // 127 - 15 + 1
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return f32_from_bits(sign | (static_cast<std::uint32_t>(e) << 23) | ((mant & 0x3FFu) << 13));
}

// Narrowing with round-to-nearest-even; overflow goes to ±Inf, underflow through subnormals to ±0.
inline fp16 f32_to_f16_scalar(float x) {
  const std::uint32_t u = f32_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // Inf or NaN
    if (abs == 0x7F800000u) return static_cast<fp16>(sign | 0x7C00u);
    return static_cast<fp16>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs >= 0x477FF000u) return static_cast<fp16>(sign | 0x7C00u);  // rounds past 65504
  if (abs >= 0x38800000u) {  // normal fp16 range: |x| >= 2^-14
    // Rebias the exponent, then round the 13 dropped mantissa bits to nearest even. A carry out
    // of the mantissa correctly bumps the exponent.
    const std::uint32_t rebased = abs - (112u << 23);
    const std::uint32_t round = 0x0FFFu + ((rebased >> 13) & 1u);
    return static_cast<fp16>(sign | ((rebased + round) >> 13));
  }
  if (abs < 0x33000000u) return static_cast<fp16>(sign);  // below half the smallest subnormal
  // Subnormal result: value / 2^-24 rounded to nearest even integer.
  const std::uint32_t exp = abs >> 23;
  const std::uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126 - exp;  // 14..24 so that result = mant >> shift
  const std::uint32_t half = 1u << (shift - 1);
  const std::uint32_t rest = mant & ((1u << shift) - 1);
  std::uint32_t q = mant >> shift;
  if (rest > half || (rest == half && (q & 1u))) ++q;
  return static_cast<fp16>(sign | q);
}

// Bulk conversions, SIMD where the path has hardware conversion (F16C, NEON), scalar otherwise.
void f16_to_f32(const fp16* in, float* out, std::size_t n);
void f32_to_f16(const float* in, fp16* out, std::size_t n);
void f16_to_f32_ref(const fp16* in, float* out, std::size_t n);
void f32_to_f16_ref(const float* in, fp16* out, std::size_t n);

}  // namespace pocket
