#include "kernels/fp16.h"

#include "kernels/fp16_simd.h"

namespace pocket {

void f16_to_f32_ref(const fp16* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32_scalar(in[i]);
}

void f32_to_f16_ref(const float* in, fp16* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_f16_scalar(in[i]);
}

void f16_to_f32(const fp16* in, float* out, std::size_t n) {
  std::size_t i = 0;
#if !defined(POCKET_SIMD_SCALAR)
  for (; i + kFloatLanes <= n; i += kFloatLanes) load_f16(in + i).store_unaligned(out + i);
#endif
  for (; i < n; ++i) out[i] = f16_to_f32_scalar(in[i]);
}

void f32_to_f16(const float* in, fp16* out, std::size_t n) {
  std::size_t i = 0;
#if !defined(POCKET_SIMD_SCALAR)
  for (; i + kFloatLanes <= n; i += kFloatLanes) store_f16(out + i, vfloat::load_unaligned(in + i));
#endif
  for (; i < n; ++i) out[i] = f32_to_f16_scalar(in[i]);
}

}  // namespace pocket
