// What a kernel reads a weight matrix through: a typed view (format, data, per-block scales, row
// stride) instead of a raw fp16 pointer, and the perturbations of the S streams that read it.
//
// The format is the seam the quantized formats fill (as ggml's type traits): a packer or a
// decode loop dispatches on it once per call, never per element. A matrix is F16 (a mapped
// checkpoint), F32, or one of GGUF's block formats read in place; fp32 masters are F32.
//
// Streams: a ZO step evaluates S perturbed copies of the model in one pass over the weights
// (S = 2 for MeZO's ±εz, S = 2q for q directions). Stream s reads the weight as
//     W_s[n, k] = W[n, k] + scale[s] · z_{key[s]}[index_base + n·stride + k]
// with z as in zrng.h; streams with the same key share one generation of z, so ± pairs cost
// one z per element whatever their scales. scale[s] = 0 reads W itself (a frozen tensor, or an
// unperturbed stream).
#pragma once

#include <cstdint>

namespace pocket {

enum class WeightFormat : std::uint8_t {
  kF16,   // IEEE binary16, row-major
  kF32,   // IEEE binary32, row-major
  // ggml's block formats (kernels/quant_blocks.h), as GGUF files store them: each row is
  // cols / block_size blocks, a block holding its own scales and packed integers.
  kQ8_0,  // 32 values: fp16 d, 32 × int8                  (34 bytes, 8.5 bits per weight)
  kQ4_0,  // 32 values: fp16 d, 32 × 4-bit (q − 8)         (18 bytes, 4.5 bits)
  kQ4_K,  // 256 values: fp16 d, dmin, 8 × 6-bit scale/min, 256 × 4-bit (144 bytes, 4.5 bits)
  kQ6_K,  // 256 values: 256 × 6-bit, 16 × int8 scale, fp16 d (210 bytes, 6.5625 bits)
};

constexpr bool is_quantized(WeightFormat f) {
  return f != WeightFormat::kF16 && f != WeightFormat::kF32;
}
// Values per block (1 for the unquantized formats) and bytes per block (per element for them).
constexpr std::int64_t weight_block_size(WeightFormat f) {
  switch (f) {
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0: return 32;
    case WeightFormat::kQ4_K:
    case WeightFormat::kQ6_K: return 256;
    default: return 1;
  }
}
constexpr std::int64_t weight_block_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF16: return 2;
    case WeightFormat::kF32: return 4;
    case WeightFormat::kQ8_0: return 34;
    case WeightFormat::kQ4_0: return 18;
    case WeightFormat::kQ4_K: return 144;
    case WeightFormat::kQ6_K: return 210;
  }
  return 0;
}
// Bytes of `elements` consecutive elements starting at a block boundary (elements a multiple of
// the block size): a row's bytes, or the offset of element (r, 0) as weight_bytes(f, r·stride).
constexpr std::int64_t weight_bytes(WeightFormat f, std::int64_t elements) {
  return elements / weight_block_size(f) * weight_block_bytes(f);
}
const char* weight_format_name(WeightFormat f);

// A [rows, cols] matrix (or a vector: rows = 1) owned by someone else (the mapping, a run's
// copy). Row r starts stride elements after row r - 1; for a block format cols and stride are
// multiples of the block size and row r starts weight_bytes(format, r·stride) bytes after data.
struct WeightView {
  WeightFormat format = WeightFormat::kF16;
  const void* data = nullptr;
  const void* scales = nullptr;  // per-block scales of a quantized format; null otherwise
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;  // elements between row starts, >= cols
  explicit operator bool() const { return data != nullptr; }
};

// The same, writable: what an update writes (the run's copy of a trainable tensor, a master).
struct MutableWeightView {
  WeightFormat format = WeightFormat::kF16;
  void* data = nullptr;
  void* scales = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;
  operator WeightView() const { return {format, data, scales, rows, cols, stride}; }
  explicit operator bool() const { return data != nullptr; }
};

inline constexpr int kMaxStreams = 8;

// The perturbation of one tensor for each stream of a call (see the top of this file).
// streams = 0: no perturbation, every stream reads W.
struct WeightPerturbation {
  int streams = 0;
  std::uint64_t key[kMaxStreams] = {};
  float scale[kMaxStreams] = {};
  std::int64_t index_base = 0;  // flat index of the view's element (0, 0) within its tensor
};

}  // namespace pocket
