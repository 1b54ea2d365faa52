// The tokenizer of a Hugging Face model directory as GGUF's tokenizer.ggml.* keys (what
// llama.cpp's converter writes), so that a GGUF file `pocket quantize` writes carries its own
// tokenizer: a SentencePiece tokenizer.model becomes tokenizer.ggml.model = "llama" with every
// piece, its score and its type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
// 6 byte), and the special ids of the model's config.
#pragma once

#include <string>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_config.h"

namespace pocket {

// Adds the keys for `dir`'s tokenizer. Throws pocket::Error naming the directory when it has no
// tokenizer pocket can write (today: SentencePiece only; byte-level BPE directories are of
// families GGUF export does not cover yet), or pocket was built without sentencepiece.
void add_tokenizer_keys(const std::string& dir, const ModelConfig& config, GgufMetadata& out);

// Copies every tokenizer.ggml.* key of `file` (a GGUF model re-quantized keeps its tokenizer).
void copy_tokenizer_keys(const GgufFile& file, GgufMetadata& out);

}  // namespace pocket
