// A model written as a GGUF file in a chosen weight format: what `pocket quantize` does. The
// file is one llama.cpp loads: its key names (io/gguf_config.h), tensor names (gguf_names.h),
// dimension order, and for the llama architecture q/k rows permuted into ggml's order (the
// permutation llama.cpp's converter applies; a GGUF source is in that order already). Norm
// weights and biases are F32; a matrix whose row length is not a multiple of the format's block
// is written in the next format that fits (Q4_K -> Q8_0/Q4_0 at 32 -> F16), as llama.cpp falls
// back.
#pragma once

#include <functional>
#include <string>

#include "kernels/weight_view.h"
#include "model/model.h"

namespace pocket {

struct GgufExportOptions {
  WeightFormat format = WeightFormat::kQ8_0;       // the projections
  WeightFormat embed_format = WeightFormat::kQ8_0; // token embeddings and an untied head
  // Write a directory's tokenizer into the file (an error where it has none). Off: a file with
  // no tokenizer.ggml.* keys, which pocket runs on token ids only (the benchmarks' random models).
  bool tokenizer = true;
  // A GGUF file whose tokenizer.ggml.* keys to write instead (its vocabulary must be the
  // model's size): for a directory without tokenizer files. Empty: the model's own.
  std::string tokenizer_from;
  // Called after each tensor: (tensors done, tensors in all, bytes written so far).
  std::function<void(std::size_t, std::size_t, std::uint64_t)> progress;
};

struct GgufExportReport {
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;     // of the file
  std::size_t fallbacks = 0;   // matrices written in another format than asked (row length)
};

// Writes `model` to `path` (atomically). The tokenizer keys come from the source: a GGUF model's
// own, or the directory's tokenizer (io/tokenizer_gguf_keys.h).
GgufExportReport write_model_gguf(const Model& model, const std::string& path,
                                  const GgufExportOptions& options);

// The format a `--type`-style name asks write_model_gguf for: q8_0, q4_0, q4_k, f16 or f32;
// anything else is a pocket::Error naming `flag`.
WeightFormat parse_export_format(const std::string& flag, const std::string& text);

// The GGUF type of a weight format (F32, F16, Q8_0, ...).
GgmlType ggml_type_of(WeightFormat format);

}  // namespace pocket
