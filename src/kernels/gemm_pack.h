// Packing for the GEMM driver (layouts in gemm_kernel.h). Packing is where W changes form:
// fp16 → fp32, and for perturbed evaluation W + c·z, into a panel the micro-kernel reads from
// L1. W itself is only ever read.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"

namespace pocket::gemm_detail {

// dst[(c·m + i)·L + l] = x[i·ldx + c·L + l] for c·L + l < kc, 0 up to kcp.   (m rows, i < m)
void pack_x_panel(const float* x, std::int64_t ldx, int m, int kc, int kcp, int lanes,
                  float* dst);

// Which perturbations the W packer applies. streams = 1 without z: dst[0] = W.
// With z: dst[s] = W + scale[s]·z for s < streams, z read from the flat index
// index_base + row·ldw + k of each element, so both streams share one read of W and of z.
struct WPackZ {
  bool enabled = false;
  std::uint64_t z_key = 0;
  std::int64_t index_base = 0;
  float scale[2] = {0.0f, 0.0f};
};

// Packs rows [row0, row0 + n) of W (n ≤ nr; rows n..nr-1 of the panel are zero) over the K block
// [k0, k0 + kc) into `streams` panels dst[s][(c·nr + j)·L + l]; `w` points at W's first row.
void pack_w_panel(const fp16* w, std::int64_t ldw, std::int64_t row0, int n, int nr,
                  std::int64_t k0, int kc, int kcp, int lanes, int streams, float* const* dst,
                  const WPackZ& z);

}  // namespace pocket::gemm_detail
