// GEMM micro-kernels for avx2: gemm_ukernel_dot.h's tile instantiated for each row of
// kCpuConfigs that names avx2 (today's rows: 3×4 tile: 12 of the 16 ymm registers accumulate, 3
// hold X, 1 W). Built with this ISA's flags (Makefile, CMakeLists.txt); a build whose flags lack
// them has no avx2 kernels, and cpu_config() never picks a avx2 row there.
#include "kernels/gemm_kernel.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "kernels/arch/x86_avx2/simd.h"
#include "kernels/gemm_ukernel_dot.h"

namespace pocket::avx2 {

namespace {
constexpr auto kKernels = gemm_detail::kernels_of_isa<Isa>();
}  // namespace

const GemmKernel* gemm_kernel_of_row(std::size_t row) {
  return row < kKernels.size() && kKernels[row].ukernel[1] != nullptr ? &kKernels[row] : nullptr;
}

}  // namespace pocket::avx2
#else
namespace pocket::avx2 {
const GemmKernel* gemm_kernel_of_row(std::size_t) { return nullptr; }
}  // namespace pocket::avx2
#endif
