// ggml's block formats (the GGUF tensor types Q8_0, Q4_0, Q4_K, Q6_K), byte for byte as ggml's
// ggml-common.h lays them out, and their reference decoders and encoders.
//
// A row of K weights is K / QK blocks, each block self-contained (its scales, then its integers):
//   Q8_0  (QK 32)   x = d · q,              q int8
//   Q4_0  (QK 32)   x = d · (q − 8),        q 4-bit; byte j holds q[j] (low nibble), q[j+16] (high)
//   Q4_K  (QK 256)  8 sub-blocks of 32:     x = d·sc[s] · q − dmin·m[s], sc, m 6-bit in 12 bytes
//   Q6_K  (QK 256)  16 sub-blocks of 16:    x = d · scales[s] · (q − 32), q 6-bit (4 low bits
//                                           in ql, 2 high in qh)
// fp16 fields are little-endian binary16 (kernels/fp16.h). Blocks in a file are packed (Q8_0 is
// 34 bytes), so a block pointer is only 2-byte aligned.
//
// Decoding is exact: each x is d (or d·sc) times an integer, rounded once to fp32 as llama.cpp's
// dequantize_row_* computes it, so pocket and llama.cpp see the same weights. Encoding follows
// llama.cpp's reference quantizers (quantize_row_*_ref), so `pocket quantize` writes the blocks
// llama.cpp would.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/weight_view.h"

namespace pocket {

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK_K = 256;
inline constexpr int kKScaleBytes = 12;  // Q4_K: 8 scales + 8 mins of 6 bits

struct BlockQ8_0 {
  fp16 d;
  std::int8_t qs[kQK8_0];
};
struct BlockQ4_0 {
  fp16 d;
  std::uint8_t qs[kQK4_0 / 2];
};
struct BlockQ4_K {
  fp16 d;     // super-block scale of the scales
  fp16 dmin;  // super-block scale of the mins
  std::uint8_t scales[kKScaleBytes];
  std::uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  std::uint8_t ql[kQK_K / 2];      // low 4 bits
  std::uint8_t qh[kQK_K / 4];      // high 2 bits
  std::int8_t scales[kQK_K / 16];  // 8-bit sub-block scales
  fp16 d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ6_K) == 210);
static_assert(weight_block_bytes(WeightFormat::kQ8_0) == sizeof(BlockQ8_0) &&
              weight_block_bytes(WeightFormat::kQ4_0) == sizeof(BlockQ4_0) &&
              weight_block_bytes(WeightFormat::kQ4_K) == sizeof(BlockQ4_K) &&
              weight_block_bytes(WeightFormat::kQ6_K) == sizeof(BlockQ6_K));

// Q4_K's 12 scale bytes hold 8 six-bit scales sc[s] and 8 six-bit mins m[s] (ggml's
// get_scale_min_k4):
//   bytes 0-3:  sc[0..3] in bits 0-5; bits 6-7 = bits 4-5 of sc[4..7]
//   bytes 4-7:  m[0..3]  in bits 0-5; bits 6-7 = bits 4-5 of m[4..7]
//   bytes 8-11: bits 0-3 of sc[4..7] in the low nibble, bits 0-3 of m[4..7] in the high nibble
inline void q4_k_scale_min(int s, const std::uint8_t* packed, std::uint8_t* sc, std::uint8_t* m) {
  if (s < 4) {
    *sc = packed[s] & 63;
    *m = packed[s + 4] & 63;
  } else {
    *sc = static_cast<std::uint8_t>((packed[s + 4] & 0x0F) | ((packed[s - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((packed[s + 4] >> 4) | ((packed[s] >> 6) << 4));
  }
}

// dst[0, n) = the values of the blocks at src (n a multiple of the format's block size); F16 and
// F32 are converted / copied. As llama.cpp's dequantize_row_<type>.
void dequantize_row(WeightFormat format, const void* src, float* dst, std::int64_t n);

// The blocks of src[0, n) into dst (weight_bytes(format, n) bytes; n a multiple of the block
// size), as llama.cpp's quantize_row_<type>_ref. Q6_K has no encoder (pocket reads it only).
void quantize_row(WeightFormat format, const float* src, void* dst, std::int64_t n);

}  // namespace pocket
