// The NEON integer GEMM micro-kernels (gemm_quant_neon.h): the plain ARMv8 variant, for CPUs
// without the dot product (Cortex-A53, A72), and this kernel set's list of variants, sdot's first
// (gemm_quant_dotprod.cpp; gemm_quant_kernels() takes it only where the CPU reports asimddp).
// The plain dot of 4 rows × 4 values: X's 4 bytes duplicated to every row, smull/smull2 give the
// 16 int16 products, addp sums adjacent pairs (|pair| ≤ 2·128·127 = 32512: no overflow), and
// sadalp adds adjacent pairs of those into the row's int32 lane.
#include "kernels/gemm_quant.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__aarch64__) && defined(__ARM_NEON)
#include <vector>

#include "kernels/arch/neon/gemm_quant_neon.h"

namespace pocket::neon {

const GemmQuantKernel* gemm_quant_dotprod();

namespace {

struct DotMull {
  template <int L>
  static int32x4_t dot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    const int8x16_t xl = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), L));
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(xl));  // rows 0, 1
    const int16x8_t hi = vmull_high_s8(w, xl);                       // rows 2, 3
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
  }
};

constexpr GemmQuantKernel kNeon{"neon", "neon", "", kQuantMr, kQuantNr, &ukernel_quant_any<DotMull>};

}  // namespace

std::span<const GemmQuantKernel> gemm_quant_variants() {
  static const std::vector<GemmQuantKernel> variants = [] {
    std::vector<GemmQuantKernel> v;
    if (const GemmQuantKernel* dotprod = gemm_quant_dotprod()) v.push_back(*dotprod);
    v.push_back(kNeon);
    return v;
  }();
  return variants;
}

}  // namespace pocket::neon
#else
namespace pocket::neon {
std::span<const GemmQuantKernel> gemm_quant_variants() { return {}; }
}  // namespace pocket::neon
#endif
