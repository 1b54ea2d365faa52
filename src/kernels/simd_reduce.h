// Horizontal reductions that xsimd 8 lacks or gets wrong (arch/<isa>/simd.h): hmax(v), the max
// over v's lanes, and sum_each_row(rows), whose lane r is Σ lanes of rows[r] for r < kFloatLanes
// (the last step of every dot-product tile).
#pragma once

#include "kernels/simd.h"

#if !defined(POCKET_SIMD_SCALAR)
namespace pocket {
using simd::hmax;
using simd::sum_each_row;
}  // namespace pocket
#endif
