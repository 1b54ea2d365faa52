// fp16 <-> fp32 on one register's worth of lanes, for kernels that convert inside their loops
// (GEMM packing, the ZO update, embedding gather): load_f16 widens kFloatLanes fp16 values from
// an unaligned pointer, store_f16 narrows with round-to-nearest-even. The intrinsics are in
// arch/<isa>/simd.h (xsimd 8 has no half type).
#pragma once

#include "kernels/fp16.h"
#include "kernels/simd.h"

#if !defined(POCKET_SIMD_SCALAR)
namespace pocket {
using simd::load_f16;
using simd::store_f16;
}  // namespace pocket
#endif
