// GEMM micro-kernel for avx512: the dot-product tile of gemm_ukernel_simd.h with the register
// tile of this ISA's row in kGemmBlocking (32 zmm registers: 4×6 = 24 accumulators, 4 X vectors, 1 W vector).
#include "kernels/gemm_kernel.h"
#include "kernels/simd.h"

#if defined(POCKET_SIMD_AVX512)
#include "kernels/gemm_ukernel_simd.h"

namespace pocket {

namespace {
constexpr GemmBlocking kBlocking = gemm_blocking("avx512");
constexpr GemmKernel kKernel =
    gemm_detail::make_kernel<kBlocking.mr, kBlocking.nr>(kBlocking);
static_assert(kBlocking.lanes == kFloatLanes && kBlocking.kc % kBlocking.lanes == 0);
}  // namespace

const GemmKernel& gemm_kernel_native() { return kKernel; }

}  // namespace pocket
#endif
