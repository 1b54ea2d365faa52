// GEMM micro-kernels for avx512: gemm_ukernel_dot.h's tile instantiated for each row of
// kCpuConfigs that names avx512 (today's rows: 4×6 tile: 24 of the 32 zmm registers accumulate, 4
// hold X, 1 W). Built with this ISA's flags (Makefile, CMakeLists.txt); a build whose flags lack
// them has no avx512 kernels, and cpu_config() never picks a avx512 row there.
#include "kernels/gemm_kernel.h"

#if !defined(POCKET_FORCE_SCALAR) && defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#include "kernels/arch/x86_avx512/simd.h"
#include "kernels/gemm_ukernel_dot.h"

namespace pocket::avx512 {

namespace {
constexpr auto kKernels = gemm_detail::kernels_of_isa<Isa>();
}  // namespace

const GemmKernel* gemm_kernel_of_row(std::size_t row) {
  return row < kKernels.size() && kKernels[row].ukernel[1] != nullptr ? &kKernels[row] : nullptr;
}

}  // namespace pocket::avx512
#else
namespace pocket::avx512 {
const GemmKernel* gemm_kernel_of_row(std::size_t) { return nullptr; }
}  // namespace pocket::avx512
#endif
