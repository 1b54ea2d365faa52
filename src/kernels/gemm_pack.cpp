#include "kernels/gemm_pack.h"

#include <cassert>
#include <cstring>
#include <optional>

#include "kernels/fp16_simd.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "kernels/zrng_simd.h"

namespace pocket::gemm_detail {

void pack_x_panel(const float* x, std::int64_t ldx, int m, int kc, int kcp, int lanes, float* dst) {
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

WPackZ make_wpack_z(int n_streams, const WeightPerturbation* z) {
  WPackZ out;
  out.streams = n_streams;
  if (z == nullptr || z->streams == 0) return out;
  out.index_base = z->index_base;
  for (int s = 0; s < n_streams; ++s) {
    out.scale[s] = z->scale[s];
    if (z->scale[s] == 0.0f) continue;
    out.enabled = true;
    int g = 0;
    while (g < out.keys && out.key[g] != z->key[s]) ++g;
    if (g == out.keys) out.key[out.keys++] = z->key[s];
    out.group[s] = g;
  }
  return out;
}

namespace {

float load_scalar(const WeightView& w, std::int64_t i) {
  return w.format == WeightFormat::kF16 ? f16_to_f32_scalar(static_cast<const fp16*>(w.data)[i])
                                        : static_cast<const float*>(w.data)[i];
}

// One row of W, any lane count, one element at a time: the reference packer, also used by the
// scalar kernel and for the ragged end of a row.
void pack_w_row_scalar(const WeightView& w, std::int64_t src, int kc_begin, int kc, int kcp, int nr,
                       int j, int lanes, float* const* dst, const WPackZ& z,
                       std::optional<ZBitReader>* bits) {
  for (int k = kc_begin; k < kcp; ++k) {
    const std::int64_t at = (static_cast<std::int64_t>(k / lanes) * nr + j) * lanes + k % lanes;
    if (k >= kc) {
      for (int s = 0; s < (z.enabled ? z.streams : 1); ++s) dst[s][at] = 0.0f;
      continue;
    }
    const float v = load_scalar(w, src + k);
    if (!z.enabled) {
      dst[0][at] = v;
      continue;
    }
    bool plus[kMaxStreams];
    for (int g = 0; g < z.keys; ++g) plus[g] = bits[g]->take(1) != 0;
    for (int s = 0; s < z.streams; ++s) {
      dst[s][at] = z.scale[s] == 0.0f ? v : v + (plus[z.group[s]] ? z.scale[s] : -z.scale[s]);
    }
  }
}

#if !defined(POCKET_SIMD_SCALAR)
vfloat load_lanes(const WeightView& w, std::int64_t i) {
  return w.format == WeightFormat::kF16
             ? load_f16(static_cast<const fp16*>(w.data) + i)
             : vfloat::load_unaligned(static_cast<const float*>(w.data) + i);
}
#endif

}  // namespace

void pack_w_panel(const WeightView& w, std::int64_t row0, int n, int nr, std::int64_t k0, int kc,
                  int kcp, int lanes, float* const* dst, const WPackZ& z) {
  assert(w.format == WeightFormat::kF16 || w.format == WeightFormat::kF32);
  const int copies = z.enabled ? z.streams : 1;
  const std::int64_t ldw = w.stride;
  for (int j = 0; j < nr; ++j) {
    if (j >= n) {  // rows past N: zero, so the micro-kernel can always compute a full tile
      for (int c = 0; c < kcp / lanes; ++c) {
        for (int s = 0; s < copies; ++s) {
          std::memset(dst[s] + (static_cast<std::int64_t>(c) * nr + j) * lanes, 0,
                      sizeof(float) * lanes);
        }
      }
      continue;
    }
    const std::int64_t src = (row0 + j) * ldw + k0;
    std::optional<ZBitReader> bits[kMaxStreams];
    for (int g = 0; g < z.keys; ++g) {
      bits[g].emplace(z.key[g], static_cast<std::uint64_t>(z.index_base + src));
    }
    int k = 0;
#if !defined(POCKET_SIMD_SCALAR)
    if (lanes == kFloatLanes) {
      constexpr int L = kFloatLanes;
      for (; k + L <= kc; k += L) {
        const vfloat v = load_lanes(w, src + k);
        const std::int64_t at = (static_cast<std::int64_t>(k / L) * nr + j) * L;
        if (!z.enabled) {
          v.store_aligned(dst[0] + at);
          continue;
        }
        std::uint32_t zbits[kMaxStreams];
        for (int g = 0; g < z.keys; ++g) zbits[g] = bits[g]->take(L);
        for (int s = 0; s < z.streams; ++s) {
          if (z.scale[s] == 0.0f) {
            v.store_aligned(dst[s] + at);
          } else {
            (v + signed_lanes(zbits[z.group[s]], z.scale[s])).store_aligned(dst[s] + at);
          }
        }
      }
    }
#endif
    pack_w_row_scalar(w, src, k, kc, kcp, nr, j, lanes, dst, z, bits);
  }
}

}  // namespace pocket::gemm_detail
