// The tokenizer of a Hugging Face model directory as GGUF's tokenizer.ggml.* keys (what
// llama.cpp's converter writes), so that a GGUF file `pocket quantize` writes carries its own
// tokenizer: a SentencePiece tokenizer.model becomes tokenizer.ggml.model = "llama" with every
// piece, its score and its type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
// 6 byte); a byte-level BPE (vocab.json + merges.txt or tokenizer.json: GPT-2, OPT, RoBERTa)
// becomes "gpt2" with its tokens, merges, types and add_bos/add_eos_token; both with the special
// ids of the model's config.
#pragma once

#include <string>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_config.h"

namespace pocket {

// Adds the keys for `dir`'s tokenizer. Throws pocket::Error naming the directory when it has no
// tokenizer files, naming the file that is broken, or when a tokenizer.model needs sentencepiece
// and pocket was built without it.
void add_tokenizer_keys(const std::string& dir, const ModelConfig& config, GgufMetadata& out);

// Copies every tokenizer.ggml.* key of `file` (a GGUF model re-quantized keeps its tokenizer).
void copy_tokenizer_keys(const GgufFile& file, GgufMetadata& out);

}  // namespace pocket
