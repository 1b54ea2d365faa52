// fp16 <-> fp32 on one register's worth of lanes, for kernels that convert inside their loops
// (GEMM packing, the ZO update, embedding gather). Raw intrinsics: xsimd 8 has no half type.
#pragma once

#include "kernels/fp16.h"
#include "kernels/simd.h"

#if defined(POCKET_SIMD_AVX512) || defined(POCKET_SIMD_AVX2)
#include <immintrin.h>
#elif defined(POCKET_SIMD_NEON)
#include <arm_neon.h>
#endif

#if !defined(POCKET_SIMD_SCALAR)
namespace pocket {

// Loads kFloatLanes fp16 values from `p` (unaligned) and widens them.
inline vfloat load_f16(const fp16* p) {
#if defined(POCKET_SIMD_AVX512)
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#elif defined(POCKET_SIMD_AVX2)
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
#endif
}

// Narrows kFloatLanes floats with round-to-nearest-even and stores them to `p` (unaligned).
inline void store_f16(fp16* p, vfloat v) {
#if defined(POCKET_SIMD_AVX512)
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#elif defined(POCKET_SIMD_AVX2)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
  vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v)));
#endif
}

}  // namespace pocket
#endif
