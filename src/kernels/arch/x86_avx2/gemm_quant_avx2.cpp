// Integer GEMM micro-kernels for avx2 (gemm_quant.h): none yet; the driver falls back to the next
// variant of gemm_quant_kernels().
#include "kernels/gemm_quant.h"

namespace pocket::avx2 {
std::span<const GemmQuantKernel> gemm_quant_variants() { return {}; }
}  // namespace pocket::avx2
