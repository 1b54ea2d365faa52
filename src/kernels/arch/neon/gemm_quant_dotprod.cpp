// The NEON dot-product integer GEMM micro-kernel (gemm_quant_neon.h): sdot by element
// (vdotq_laneq_s32), 16 signed byte products summed into 4 int32 lanes per instruction, X's 4
// bytes taken straight from a lane of its register. The Makefile and CMakeLists.txt build this
// file (alone) with +dotprod on aarch64, so that a binary for any ARMv8 target has it;
// gemm_quant_kernels() uses it only where the CPU reports asimddp (Cortex-A55/A76 and later).
#include "kernels/gemm_quant.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include "kernels/arch/neon/gemm_quant_neon.h"

namespace pocket::neon {

namespace {

struct DotSdot {
  template <int L>
  static int32x4_t dot(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_laneq_s32(acc, w, x, L);
  }
};

constexpr GemmQuantKernel kDotprod{"neon-dotprod", "neon", "asimddp", kQuantMr, kQuantNr,
                                   &ukernel_quant_any<DotSdot>};

}  // namespace

const GemmQuantKernel* gemm_quant_dotprod() { return &kDotprod; }

}  // namespace pocket::neon
#else
namespace pocket::neon {
const GemmQuantKernel* gemm_quant_dotprod() { return nullptr; }
}  // namespace pocket::neon
#endif
