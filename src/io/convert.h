// `pocket convert`: a Hugging Face model directory -> the directory pocket runs from.
//
// Every F32/BF16/F16 tensor of the checkpoint (model.safetensors or the shards of
// model.safetensors.index.json) becomes F16, rounded to nearest even (BF16 -> F32 -> F16, both
// steps exact but the last); other dtypes (I64, U8, F64, ...) are copied as they are. The output
// is one OUT_DIR/model.safetensors written by write_safetensors (tensors on 64-byte boundaries),
// even when the input is sharded. A finite value beyond the fp16 range (|x| rounds past 65504) is
// an error naming the tensor and the value: a model with inf weights is silently broken.
//
// Every other regular file of IN_DIR (config.json, tokenizer files, ...) is copied atomically,
// except the safetensors files and their index, and pytorch weights (*.bin, *.pt, *.pth), which
// are not read: warn() says so. Hidden files (".gitattributes", ".cache/") are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pocket {

struct ConvertOptions {
  int threads = 0;  // 0: every hardware thread
  // Called after each tensor is written: tensors done of total, input bytes done of total.
  std::function<void(std::size_t tensors_done, std::size_t tensors_total, std::uint64_t bytes_done,
                     std::uint64_t bytes_total)>
      progress;
  // One line for each thing the user should know that is not an error.
  std::function<void(const std::string& line)> warn;
};

struct ConvertReport {
  std::string output;               // OUT_DIR/model.safetensors
  std::size_t tensors = 0;          // tensors written
  std::size_t converted = 0;        // ... of which changed dtype (F32/BF16 -> F16)
  std::uint64_t bytes_in = 0;       // tensor bytes read
  std::uint64_t bytes_out = 0;      // tensor bytes written
  std::vector<std::string> copied;  // names of the other files copied
};

// Throws pocket::Error when OUT_DIR is IN_DIR, when OUT_DIR already holds a
// model.safetensors.index.json (it would shadow the new model.safetensors), when the checkpoint is
// broken, and on the first out-of-range value. OUT_DIR is created if needed.
ConvertReport convert_checkpoint(const std::string& in_dir, const std::string& out_dir,
                                 const ConvertOptions& options = {});

}  // namespace pocket
