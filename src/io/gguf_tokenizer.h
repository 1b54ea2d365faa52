// The tokenizer of a GGUF file, from its tokenizer.ggml.* keys (llama.cpp's layout):
//   tokenizer.ggml.model   "llama" (SentencePiece) or "gpt2" (byte-level BPE)
//   tokenizer.ggml.tokens  [string] id -> token text
//   tokenizer.ggml.scores  [f32] id -> score (llama: the merge order of its BPE)
//   tokenizer.ggml.token_type [i32] id -> 1 normal, 2 unknown, 3 control, 4 user-defined,
//                          5 unused, 6 byte (sentencepiece's numbering; 0 read as normal)
//   tokenizer.ggml.merges  [string] "left right" (gpt2), rank = index
//   tokenizer.ggml.pre     gpt2's pre-tokenizer: only "gpt-2" and "default" (GPT-2's regex)
//   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token,
//   add_space_prefix, remove_extra_whitespaces (llama's normalizer; llama.cpp's defaults)
//
// "llama" becomes a SentencePiece model built in memory (BPE over the scores, byte fallback, no
// Unicode normalization, a dummy-prefix space, whitespace kept as it is) run by the sentencepiece
// library: SentencePieceTokenizer. Control pieces are never matched in the text; user-defined
// ones are. "gpt2" becomes a BpeTokenizer whose control (special) and user-defined tokens are
// matched in the text first; decode skips the control ones.
#pragma once

#include <memory>
#include <string>

#include "io/gguf.h"
#include "io/tokenizer.h"

namespace pocket {

// Throws pocket::Error naming the file and key: a key missing (tokens; merges for gpt2) or of
// the wrong type, scores or token_type of another length than tokens, a token id out of range,
// an unknown token type, tokenizer.ggml.model or tokenizer.ggml.pre; or naming the file when
// the llama tokenizer needs sentencepiece and this build has none.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& file);

// The serialized sentencepiece ModelProto (sentencepiece_model.proto) of a "llama" GGUF
// tokenizer. Public for the tests.
std::string gguf_sentencepiece_proto(const GgufFile& file);

}  // namespace pocket
