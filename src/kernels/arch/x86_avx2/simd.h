// The AVX2 path (x86-64-v3: AVX2 + FMA + F16C): one register of 8 floats and the operations on it
// that xsimd 8 lacks. Everything is in pocket::avx2, so a file built with AVX2 flags and one built
// for another ISA never define the same inline function differently (src/kernels/README.md).
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels/arch/x86_avx2/simd.h needs AVX2, FMA and F16C (-march=x86-64-v3 or native)"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "kernels/fp16.h"

namespace pocket::avx2 {

// Named, not xsimd's default: a file built with AVX-512 flags (make's -march=native on an AVX-512
// machine) still gets 8-lane registers here. fma3<avx2> is the default of an x86-64-v3 build.
using arch = xsimd::fma3<xsimd::avx2>;
using vfloat = xsimd::batch<float, arch>;
inline constexpr int kFloatLanes = 8;
static_assert(vfloat::size == kFloatLanes);
inline constexpr const char* kName = "avx2";

// a·b + c with one rounding (vfmadd).
inline vfloat fmadd(vfloat a, vfloat b, vfloat c) { return xsimd::fma(a, b, c); }

// Σ lanes. xsimd 9 renamed hadd to reduce_add (and later releases dropped hadd).
inline float reduce_sum(vfloat v) {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(v);
#else
  return xsimd::hadd(v);
#endif
}

// max over the lanes of v
inline float hmax(vfloat v) {
  alignas(32) float lanes[kFloatLanes];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (int i = 1; i < kFloatLanes; ++i) m = std::max(m, lanes[i]);
  return m;
}

// Lane r of the result = Σ lanes of rows[r], r < 8.
inline vfloat sum_each_row(const vfloat* rows) { return xsimd::haddp(rows); }

// Loads 8 fp16 values from `p` (unaligned) and widens them.
inline vfloat load_f16(const fp16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Narrows 8 floats with round-to-nearest-even and stores them to `p` (unaligned).
inline void store_f16(fp16* p, vfloat v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Lane l of the result is +c if bit l of `bits` is set, else -c  (i.e. c·z on 8 lanes).
inline vfloat signed_lanes(std::uint32_t bits, float c) {
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_cmpeq_epi32(
      _mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane_bit), lane_bit);
  return _mm256_blendv_ps(_mm256_set1_ps(-c), _mm256_set1_ps(c), _mm256_castsi256_ps(set));
}

// The operations the ISA-independent micro-kernel (kernels/gemm_ukernel_dot.h) is written against.
struct Isa {
  using vfloat = avx2::vfloat;
  static constexpr int kLanes = kFloatLanes;
  static constexpr const char* kName = avx2::kName;
  static vfloat fmadd(vfloat a, vfloat b, vfloat c) { return avx2::fmadd(a, b, c); }
  static vfloat sum_each_row(const vfloat* rows) { return avx2::sum_each_row(rows); }
};

}  // namespace pocket::avx2
