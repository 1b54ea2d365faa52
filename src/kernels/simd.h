// Compile-time choice of the SIMD path. One path is compiled per build (chosen by -march), plus
// the scalar reference that every kernel keeps beside its fast version.
//
//   POCKET_SIMD_AVX512  x86-64 with AVX-512F (+F16C, FMA): xsimd avx512 batches, 16 floats
//   POCKET_SIMD_AVX2    x86-64 with AVX2 + FMA + F16C:      xsimd avx2 batches, 8 floats
//   POCKET_SIMD_NEON    aarch64 (Advanced SIMD is mandatory there): xsimd neon64, 4 floats
//   POCKET_SIMD_SCALAR  anything else, or `make SIMD=scalar` (-DPOCKET_FORCE_SCALAR)
//
// SSE-only x86 builds take the scalar path on purpose: without F16C the fp16 conversion that
// every GEMM pack does would be scalar anyway, and a third x86 path is not worth its tests.
#pragma once

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX512F__) && defined(__F16C__) && defined(__FMA__)
#define POCKET_SIMD_AVX512 1
#define POCKET_SIMD_NAME "avx512"
#elif !defined(POCKET_FORCE_SCALAR) && defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define POCKET_SIMD_AVX2 1
#define POCKET_SIMD_NAME "avx2"
#elif !defined(POCKET_FORCE_SCALAR) && defined(__aarch64__) && defined(__ARM_NEON)
#define POCKET_SIMD_NEON 1
#define POCKET_SIMD_NAME "neon"
#else
#define POCKET_SIMD_SCALAR 1
#define POCKET_SIMD_NAME "scalar"
#endif

#if !defined(POCKET_SIMD_SCALAR)
#include <xsimd/xsimd.hpp>
#if defined(POCKET_SIMD_AVX512)
#include <immintrin.h>
#endif

namespace pocket {
// The widest float batch of the compiled path; every SIMD kernel is written against it.
using vfloat = xsimd::batch<float>;
inline constexpr int kFloatLanes = static_cast<int>(vfloat::size);

// a·b + c with one rounding. xsimd 8.1 has no AVX-512 fma: its generic fallback is a multiply
// and an add (two roundings, half the throughput), so AVX-512 calls the instruction directly.
inline vfloat fmadd(vfloat a, vfloat b, vfloat c) {
#if defined(POCKET_SIMD_AVX512)
  return _mm512_fmadd_ps(a, b, c);
#else
  return xsimd::fma(a, b, c);
#endif
}

// Σ lanes. xsimd 9 renamed hadd to reduce_add (and later releases dropped hadd); Debian ships
// 8.1, Termux a current release.
inline float reduce_sum(vfloat v) {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(v);
#else
  return xsimd::hadd(v);
#endif
}
}  // namespace pocket
#endif

namespace pocket {
// Name of the compiled SIMD path, for --help, benchmarks and test output.
inline constexpr const char* kSimdPath = POCKET_SIMD_NAME;
}  // namespace pocket
