// Horizontal reductions of one vfloat that xsimd 8 lacks (it has hadd for the sum, no max).
#pragma once

#include "kernels/simd.h"

#if !defined(POCKET_SIMD_SCALAR)
#include <algorithm>

namespace pocket {

// max over the lanes of v
inline float hmax(vfloat v) {
  alignas(64) float lanes[kFloatLanes];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (int i = 1; i < kFloatLanes; ++i) m = std::max(m, lanes[i]);
  return m;
}

}  // namespace pocket
#endif
