// The NEON path (aarch64, where Advanced SIMD is mandatory): one register of 4 floats and the
// operations on it that xsimd 8 lacks. Everything is in pocket::neon (src/kernels/README.md).
#pragma once

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels/arch/neon/simd.h needs aarch64 with Advanced SIMD"
#endif

#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "kernels/fp16.h"

namespace pocket::neon {

using arch = xsimd::neon64;
using vfloat = xsimd::batch<float, arch>;
inline constexpr int kFloatLanes = 4;
static_assert(vfloat::size == kFloatLanes);
inline constexpr const char* kName = "neon";

// a·b + c with one rounding (fmla).
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
  alignas(16) float lanes[kFloatLanes];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (int i = 1; i < kFloatLanes; ++i) m = std::max(m, lanes[i]);
  return m;
}

// Lane r of the result = Σ lanes of rows[r], r < 4.
inline vfloat sum_each_row(const vfloat* rows) { return xsimd::haddp(rows); }

// Loads 4 fp16 values from `p` (unaligned) and widens them.
inline vfloat load_f16(const fp16* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

// Narrows 4 floats with round-to-nearest-even and stores them to `p` (unaligned).
inline void store_f16(fp16* p, vfloat v) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v))); }

// Lane l of the result is +c if bit l of `bits` is set, else -c  (i.e. c·z on 4 lanes).
inline vfloat signed_lanes(std::uint32_t bits, float c) {
  const uint32x4_t lane_bit = {1, 2, 4, 8};
  const uint32x4_t set = vtstq_u32(vdupq_n_u32(bits), lane_bit);
  return vbslq_f32(set, vdupq_n_f32(c), vdupq_n_f32(-c));
}

// The operations the ISA-independent micro-kernel (kernels/gemm_ukernel_dot.h) is written against.
struct Isa {
  using vfloat = neon::vfloat;
  static constexpr int kLanes = kFloatLanes;
  static constexpr const char* kName = neon::kName;
  static vfloat fmadd(vfloat a, vfloat b, vfloat c) { return neon::fmadd(a, b, c); }
  static vfloat sum_each_row(const vfloat* rows) { return neon::sum_each_row(rows); }
};

}  // namespace pocket::neon
