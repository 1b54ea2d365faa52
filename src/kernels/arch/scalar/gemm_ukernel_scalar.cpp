// GEMM micro-kernel in plain C++ (one lane): the portable fallback, and the reference the SIMD
// micro-kernels are tested against through the same driver and packers.
#include <cstddef>
#include <iterator>

#include "kernels/cpu_config.h"
#include "kernels/gemm_kernel.h"

namespace pocket::scalar {

namespace {

constexpr std::size_t kRow = scalar_row();
constexpr GemmBlocking kBlocking = kCpuConfigs[kRow].gemm;

// With one lane the packed panels are xp[k·M + i] and wp[k·NR + j]; each dot product is summed
// in k order, as the reference GEMM does.
template <int M>
void ukernel_scalar(std::int64_t kcp, const float* xp, const float* wp, float* y, std::int64_t ldy,
                    int n, const float* bias, bool accumulate) {
  constexpr int NR = kBlocking.nr;
  float acc[M][NR] = {};
  for (std::int64_t k = 0; k < kcp; ++k) {
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < NR; ++j) acc[i][j] += xp[k * M + i] * wp[k * NR + j];
    }
  }
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < n; ++j) {
      float v = acc[i][j];
      if (accumulate) v = y[i * ldy + j] + v;
      if (bias != nullptr) v += bias[j];
      y[i * ldy + j] = v;
    }
  }
}

static_assert(kBlocking.mr == 4 && kBlocking.lanes == 1 && blocking_is_valid(kBlocking));
constexpr GemmKernel kKernel{
    kBlocking,
    {nullptr, &ukernel_scalar<1>, &ukernel_scalar<2>, &ukernel_scalar<3>, &ukernel_scalar<4>}};

}  // namespace

const GemmKernel* gemm_kernel_of_row(std::size_t row) { return row == kRow ? &kKernel : nullptr; }

}  // namespace pocket::scalar

namespace pocket {
const GemmKernel& gemm_kernel_scalar() { return *scalar::gemm_kernel_of_row(scalar::kRow); }
}  // namespace pocket
