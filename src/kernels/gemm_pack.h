// Packing for the GEMM driver (layouts in gemm_kernel.h). Packing is where W changes form:
// fp16 → fp32, or a block format's blocks decoded to fp32 (dequantize_row), and for perturbed
// evaluation W + c·z, into a panel the micro-kernel reads from L1. W itself is only ever read.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/weight_view.h"

namespace pocket::gemm_detail {

// dst[(c·m + i)·L + l] = x[i·ldx + c·L + l] for c·L + l < kc, 0 up to kcp.   (m rows, i < m)
void pack_x_panel(const float* x, std::int64_t ldx, int m, int kc, int kcp, int lanes, float* dst);

// Which perturbations the W packer applies. Without z, one shared panel: dst[0] = W.
// With z: dst[s] = W + scale[s]·z_{key[group[s]]} for s < streams (scale 0: W itself), z read from
// the flat index index_base + row·ldw + k of each element; streams of one key share one z.
struct WPackZ {
  bool enabled = false;
  int streams = 1;
  int keys = 0;  // distinct keys among the perturbed streams
  std::uint64_t key[kMaxStreams] = {};
  int group[kMaxStreams] = {};  // stream s reads z of key[group[s]]
  float scale[kMaxStreams] = {};
  std::int64_t index_base = 0;
};

// The packer's view of a call's perturbation (disabled when every scale is 0).
WPackZ make_wpack_z(int n_streams, const WeightPerturbation* z);

// Packs rows [row0, row0 + n) of W (n ≤ nr; rows n..nr-1 of the panel are zero) over the K block
// [k0, k0 + kc) into panels dst[s][(c·nr + j)·L + l] (z.streams of them with z, else one).
// Dispatches on w.format (any: a block format's blocks covering [k0, k0 + kc) are decoded on the
// stack first); rows are w's rows, ldw = w.stride, z indexed by the element's flat index.
void pack_w_panel(const WeightView& w, std::int64_t row0, int n, int nr, std::int64_t k0, int kc,
                  int kcp, int lanes, float* const* dst, const WPackZ& z);

}  // namespace pocket::gemm_detail
