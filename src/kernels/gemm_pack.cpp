#include "kernels/gemm_pack.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <optional>

#include "kernels/fp16_simd.h"
#include "kernels/quant_blocks.h"
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

// Where a row's values come from while it is packed: F16 or F32 elements, `values` pointing at
// the value of position k_begin of the K block (a block format is first decoded to F32).
struct RowValues {
  WeightFormat format;
  const void* values;
  float at(int i) const {
    return format == WeightFormat::kF16 ? f16_to_f32_scalar(static_cast<const fp16*>(values)[i])
                                        : static_cast<const float*>(values)[i];
  }
#if !defined(POCKET_SIMD_SCALAR)
  vfloat lanes(int i) const {
    return format == WeightFormat::kF16
               ? load_f16(static_cast<const fp16*>(values) + i)
               : vfloat::load_unaligned(static_cast<const float*>(values) + i);
  }
#endif
};

// Position k of the K block, row j of the panel: where it lands in the packed layout.
std::int64_t packed_at(int k, int nr, int j, int lanes) {
  return (static_cast<std::int64_t>(k / lanes) * nr + j) * lanes + k % lanes;
}

// One element at a time (any lane count): the reference packer, also used by the scalar kernel
// and for the ragged end of a row. Packs positions [k_begin, k_end) of row j, z read on from
// `bits` (positioned at k_begin).
void pack_w_span_scalar(const RowValues& row, int k_begin, int k_end, int nr, int j, int lanes,
                        float* const* dst, const WPackZ& z, std::optional<ZBitReader>* bits) {
  for (int k = k_begin; k < k_end; ++k) {
    const std::int64_t at = packed_at(k, nr, j, lanes);
    const float v = row.at(k - k_begin);
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

// Positions [k_begin, k_end) of row j: whole vectors where the lanes are the SIMD width, the
// rest one at a time. Either way each stream's value is W (+ ±scale), the same bits.
void pack_w_span(const RowValues& row, int k_begin, int k_end, int nr, int j, int lanes,
                 float* const* dst, const WPackZ& z, std::optional<ZBitReader>* bits) {
  int k = k_begin;
#if !defined(POCKET_SIMD_SCALAR)
  if (lanes == kFloatLanes) {
    constexpr int L = kFloatLanes;
    if (k % L != 0) {  // up to a vector boundary (spans start at one in practice)
      const int to = std::min(k_end, (k / L + 1) * L);
      pack_w_span_scalar(row, k, to, nr, j, lanes, dst, z, bits);
      k = to;
    }
    for (; k + L <= k_end; k += L) {
      const vfloat v = row.lanes(k - k_begin);
      const std::int64_t at = packed_at(k, nr, j, L);
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
  RowValues rest = row;
  rest.values = static_cast<const char*>(row.values) +
                (k - k_begin) * (row.format == WeightFormat::kF16 ? sizeof(fp16) : sizeof(float));
  pack_w_span_scalar(rest, k, k_end, nr, j, lanes, dst, z, bits);
}

// Values decoded per step from a block format: 4 Q4_K/Q6_K blocks or 32 Q8_0/Q4_0 blocks, on the
// stack (no allocation in a call).
constexpr int kDecodeFloats = 1024;

// Row j of a block-format W over the K block [k0, k0 + kc): the blocks covering it are decoded
// to fp32, kDecodeFloats at a time, and each decoded span is packed as an F32 row would be.
// Spans end at block boundaries, multiples of the lanes, so the vector path sees whole vectors.
void pack_w_row_blocks(const WeightView& w, std::int64_t row, std::int64_t k0, int kc, int nr,
                       int j, int lanes, float* const* dst, const WPackZ& z,
                       std::optional<ZBitReader>* bits) {
  const std::int64_t bs = weight_block_size(w.format);
  static_assert(kDecodeFloats % 256 == 0);
  alignas(64) float decoded[kDecodeFloats];
  const char* row_bytes = static_cast<const char*>(w.data) + weight_bytes(w.format, row * w.stride);
  std::int64_t k = k0;  // absolute column of the next value to pack
  while (k < k0 + kc) {
    const std::int64_t first = k / bs * bs;  // block holding column k
    const std::int64_t last = std::min<std::int64_t>(
        first + kDecodeFloats, (k0 + kc + bs - 1) / bs * bs);  // end of the blocks decoded
    dequantize_row(w.format, row_bytes + weight_bytes(w.format, first), decoded, last - first);
    const std::int64_t end = std::min<std::int64_t>(last, k0 + kc);
    const RowValues values{WeightFormat::kF32, decoded + (k - first)};
    pack_w_span(values, static_cast<int>(k - k0), static_cast<int>(end - k0), nr, j, lanes, dst, z,
                bits);
    k = end;
  }
}

// Positions [kc, kcp) of row j: zero, in every copy.
void pad_w_row(int kc, int kcp, int nr, int j, int lanes, float* const* dst, int copies) {
  for (int k = kc; k < kcp; ++k) {
    for (int s = 0; s < copies; ++s) dst[s][packed_at(k, nr, j, lanes)] = 0.0f;
  }
}

}  // namespace

void pack_w_panel(const WeightView& w, std::int64_t row0, int n, int nr, std::int64_t k0, int kc,
                  int kcp, int lanes, float* const* dst, const WPackZ& z) {
  const int copies = z.enabled ? z.streams : 1;
  const std::int64_t ldw = w.stride;
  const bool blocks = is_quantized(w.format);
  assert(!blocks ||
         (w.cols % weight_block_size(w.format) == 0 && ldw % weight_block_size(w.format) == 0));
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
    const std::int64_t row = row0 + j;
    const std::int64_t src = row * ldw + k0;  // flat index of the row's first value: z's index
    std::optional<ZBitReader> bits[kMaxStreams];
    for (int g = 0; g < z.keys; ++g) {
      bits[g].emplace(z.key[g], static_cast<std::uint64_t>(z.index_base + src));
    }
    if (blocks) {
      pack_w_row_blocks(w, row, k0, kc, nr, j, lanes, dst, z, bits);
    } else {
      const std::size_t element = w.format == WeightFormat::kF16 ? sizeof(fp16) : sizeof(float);
      const RowValues values{w.format, static_cast<const char*>(w.data) + src * element};
      pack_w_span(values, 0, kc, nr, j, lanes, dst, z, bits);
    }
    pad_w_row(kc, kcp, nr, j, lanes, dst, copies);
  }
}

}  // namespace pocket::gemm_detail
