// The integer GEMM's micro-kernel in plain C++: the portable fallback, and what the SIMD ones are
// held to through the same driver and packer. Reads the packed panel as gemm_quant.h lays it
// out and does gemm_quant.h's integer and fp32 steps one output at a time.
#include "kernels/gemm_quant.h"
#include "kernels/gemm_quant_block.h"

namespace pocket::scalar {

namespace {

constexpr int kMr = 4, kNr = 16;

void ukernel_quant_scalar(WeightFormat format, const QuantPanel& w, const QuantRows& x, int m,
                          float* acc) {
  for (int i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * x.q_stride;
    const float* xd = x.d + i * x.d_stride;
    const std::int32_t* xs = x.sum16 + i * x.s_stride;
    for (int j = 0; j < kNr; ++j) {
      float a = 0.0f;
      for (std::int64_t b = 0; b < w.n_blocks; ++b) {
        std::int32_t dot[2] = {0, 0};
        for (int t = 0; t < 8; ++t) {
          const std::uint8_t* wq = w.q + ((b * 8 + t) * kNr + j) * 4;
          for (int l = 0; l < 4; ++l) {
            const std::int32_t v = format == WeightFormat::kQ8_0 ? static_cast<std::int8_t>(wq[l])
                                                                 : static_cast<std::int32_t>(wq[l]);
            dot[t / 4] += v * xq[b * kQuantBlock + 4 * t + l];
          }
        }
        const std::int32_t sc[2] = {w.sub_scale[2 * b * kNr + j],
                                    w.sub_scale[(2 * b + 1) * kNr + j]};
        const std::int32_t idot =
            gemm_detail::block_int_dot(format, dot[0], dot[1], xs[2 * b], xs[2 * b + 1], sc);
        a = gemm_detail::add_block_term(format, a, idot, w.scale[b * kNr + j], w.min[b * kNr + j],
                                        xd[b], xs[2 * b] + xs[2 * b + 1]);
      }
      acc[i * kNr + j] = a;
    }
  }
}

constexpr GemmQuantKernel kKernel{"scalar", "scalar", "", kMr, kNr, &ukernel_quant_scalar};

}  // namespace

const GemmQuantKernel& gemm_quant_kernel() { return kKernel; }

}  // namespace pocket::scalar
