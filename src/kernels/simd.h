// The SIMD path of the files built for the target (-march): every kernel but the GEMM
// micro-kernels, which are chosen at run time (cpu_config.h). Each ISA's intrinsics live in
// arch/<isa>/simd.h, in their own namespace; this header picks the one the compiler flags allow
// and makes its names pocket::vfloat, pocket::fmadd, ... for the kernels written against them.
//
//   POCKET_SIMD_AVX512  x86-64 with AVX-512F (+F16C, FMA): arch/x86_avx512, 16 floats
//   POCKET_SIMD_AVX2    x86-64 with AVX2 + FMA + F16C:      arch/x86_avx2, 8 floats
//   POCKET_SIMD_NEON    aarch64 (Advanced SIMD is mandatory there): arch/neon, 4 floats
//   POCKET_SIMD_SCALAR  anything else, or `make SIMD=scalar` (-DPOCKET_FORCE_SCALAR)
//
// SSE-only x86 builds take the scalar path on purpose: without F16C the fp16 conversion that
// every GEMM pack does would be scalar anyway, and a third x86 path is not worth its tests.
#pragma once

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX512F__) && defined(__F16C__) && defined(__FMA__)
#define POCKET_SIMD_AVX512 1
#define POCKET_SIMD_NAME "avx512"
#include "kernels/arch/x86_avx512/simd.h"
namespace pocket {
namespace simd = avx512;
}
#elif !defined(POCKET_FORCE_SCALAR) && defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define POCKET_SIMD_AVX2 1
#define POCKET_SIMD_NAME "avx2"
#include "kernels/arch/x86_avx2/simd.h"
namespace pocket {
namespace simd = avx2;
}
#elif !defined(POCKET_FORCE_SCALAR) && defined(__aarch64__) && defined(__ARM_NEON)
#define POCKET_SIMD_NEON 1
#define POCKET_SIMD_NAME "neon"
#include "kernels/arch/neon/simd.h"
namespace pocket {
namespace simd = neon;
}
#else
#define POCKET_SIMD_SCALAR 1
#define POCKET_SIMD_NAME "scalar"
#endif

#if !defined(POCKET_SIMD_SCALAR)
namespace pocket {
// The widest float batch of the target's path; every SIMD kernel is written against it.
using simd::kFloatLanes;
using simd::vfloat;
// a·b + c with one rounding, and Σ lanes.
using simd::fmadd;
using simd::reduce_sum;
}  // namespace pocket
#endif

namespace pocket {
// Name of the target's SIMD path, for --help, benchmarks and test output.
inline constexpr const char* kSimdPath = POCKET_SIMD_NAME;
}  // namespace pocket
