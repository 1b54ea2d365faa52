// GEMM micro-kernels for neon: gemm_ukernel_dot.h's tile instantiated for each row of
// kCpuConfigs that names neon (today's rows: 4×6 tile: 24 of the 32 q registers accumulate, 4 hold
// X, 1 W). Built with this ISA's flags (Makefile, CMakeLists.txt); a build whose flags lack them
// has no neon kernels, and cpu_config() never picks a neon row there.
#include "kernels/gemm_kernel.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__aarch64__) && defined(__ARM_NEON)
#include "kernels/arch/neon/simd.h"
#include "kernels/gemm_ukernel_dot.h"

namespace pocket::neon {

namespace {
constexpr auto kKernels = gemm_detail::kernels_of_isa<Isa>();
}  // namespace

const GemmKernel* gemm_kernel_of_row(std::size_t row) {
  return row < kKernels.size() && kKernels[row].ukernel[1] != nullptr ? &kKernels[row] : nullptr;
}

}  // namespace pocket::neon
#else
namespace pocket::neon {
const GemmKernel* gemm_kernel_of_row(std::size_t) { return nullptr; }
}  // namespace pocket::neon
#endif
