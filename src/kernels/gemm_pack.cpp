#include "kernels/gemm_pack.h"

#include <cstring>

#include "kernels/fp16_simd.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "kernels/zrng_simd.h"

namespace pocket::gemm_detail {

void pack_x_panel(const float* x, std::int64_t ldx, int m, int kc, int kcp, int lanes,
                  float* dst) {
  const int chunks = kcp / lanes;
  for (int i = 0; i < m; ++i) {
    const float* row = x + i * ldx;
    for (int c = 0; c < chunks; ++c) {
      float* out = dst + (static_cast<std::int64_t>(c) * m + i) * lanes;
      const int k = c * lanes;
      if (k + lanes <= kc) {
        std::memcpy(out, row + k, sizeof(float) * lanes);
      } else {
        for (int l = 0; l < lanes; ++l) out[l] = k + l < kc ? row[k + l] : 0.0f;
      }
    }
  }
}

namespace {

// One row of W, any lane count, one element at a time: the reference packer, also used by the
// scalar kernel and for the ragged end of a row.
void pack_w_row_scalar(const fp16* src, int kc_begin, int kc, int kcp, int nr, int j, int lanes,
                       int streams, float* const* dst, const WPackZ& z, ZBitReader* bits) {
  for (int k = kc_begin; k < kcp; ++k) {
    const std::int64_t at = (static_cast<std::int64_t>(k / lanes) * nr + j) * lanes + k % lanes;
    if (k >= kc) {
      for (int s = 0; s < streams; ++s) dst[s][at] = 0.0f;
      continue;
    }
    const float v = f16_to_f32_scalar(src[k]);
    if (!z.enabled) {
      dst[0][at] = v;
      continue;
    }
    const bool plus = bits->take(1) != 0;
    for (int s = 0; s < streams; ++s) dst[s][at] = v + (plus ? z.scale[s] : -z.scale[s]);
  }
}

}  // namespace

void pack_w_panel(const fp16* w, std::int64_t ldw, std::int64_t row0, int n, int nr,
                  std::int64_t k0, int kc, int kcp, int lanes, int streams, float* const* dst,
                  const WPackZ& z) {
  for (int j = 0; j < nr; ++j) {
    if (j >= n) {  // rows past N: zero, so the micro-kernel can always compute a full tile
      for (int c = 0; c < kcp / lanes; ++c) {
        for (int s = 0; s < streams; ++s) {
          std::memset(dst[s] + (static_cast<std::int64_t>(c) * nr + j) * lanes, 0,
                      sizeof(float) * lanes);
        }
      }
      continue;
    }
    const fp16* src = w + (row0 + j) * ldw + k0;
    ZBitReader bits(z.z_key, static_cast<std::uint64_t>(z.index_base + (row0 + j) * ldw + k0));
    int k = 0;
#if !defined(POCKET_SIMD_SCALAR)
    if (lanes == kFloatLanes) {
      constexpr int L = kFloatLanes;
      for (; k + L <= kc; k += L) {
        const vfloat v = load_f16(src + k);
        const std::int64_t at = (static_cast<std::int64_t>(k / L) * nr + j) * L;
        if (!z.enabled) {
          v.store_aligned(dst[0] + at);
          continue;
        }
        const std::uint32_t zbits = bits.take(L);
        for (int s = 0; s < streams; ++s) {
          (v + signed_lanes(zbits, z.scale[s])).store_aligned(dst[s] + at);
        }
      }
    }
#endif
    pack_w_row_scalar(src, k, kc, kcp, nr, j, lanes, streams, dst, z, &bits);
  }
}

}  // namespace pocket::gemm_detail
