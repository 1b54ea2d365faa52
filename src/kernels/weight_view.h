// What a kernel reads a weight matrix through: a typed view (format, data, per-block scales, row
// stride) instead of a raw fp16 pointer, and the perturbations of the S streams that read it.
//
// The format is the seam the quantized formats fill (as ggml's type traits): a packer or a
// decode loop dispatches on it once per call, never per element. Today every matrix is F16 (the
// mapped checkpoint) and fp32 masters are F32.
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
  kF16,  // IEEE binary16, row-major
  kF32,  // IEEE binary32, row-major
};

// Bytes of one element of an unquantized format.
constexpr std::int64_t weight_format_bytes(WeightFormat f) {
  return f == WeightFormat::kF16 ? 2 : 4;
}

// A [rows, cols] matrix (or a vector: rows = 1) owned by someone else (the mapping, a run's
// copy). Row r starts stride elements after row r - 1.
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
