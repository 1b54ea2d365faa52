// A GGUF file's hyper-parameters -> the ModelConfig the forward reads, from the keys llama.cpp
// writes: general.architecture, then <arch>.embedding_length, .block_count, .feed_forward_length,
// .context_length, .attention.head_count(_kv), .attention.key_length, .attention.
// layer_norm_rms_epsilon, .rope.freq_base, .rope.dimension_count; the special token ids from
// tokenizer.ggml.*_token_id; whether the head is tied and which biases exist from the tensors
// present (llama.cpp decides the same way).
//
// Families: llama (also Mistral-style files, which llama.cpp writes as llama) and qwen2. llama's
// q/k rows are in ggml's permuted order, so its config rotates them interleaved
// (rope_interleaved); qwen2's converter does not permute, so qwen2 keeps HF's layout.
//
// opt and roberta, which llama.cpp has no architecture for, are pocket's own, in llama.cpp's
// style (docs/gguf.md): the same common keys, <arch>.attention.layer_norm_epsilon, and what
// their HF configs choose: opt.layer_norm_before, opt.word_embedding_length,
// roberta.position_padding_idx, roberta.token_type_count, <arch>.activation_function. Both are
// rope-free, so nothing is permuted.
#pragma once

#include <string>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_config.h"

namespace pocket {

// Throws pocket::Error("<file>: key '<k>'", ...) for a missing or out-of-range key, an
// architecture pocket cannot run, or a feature it does not implement (RoPE scaling, partial
// rotary, experts, sliding windows, grouped-query attention outside the llama family).
ModelConfig gguf_model_config(const GgufFile& file);

// The GGUF architecture name of a config: "llama", "qwen2", "opt" or "roberta".
std::string gguf_architecture(const ModelConfig& config);
// The keys gguf_model_config reads, for `config` (what `pocket quantize` writes, as llama.cpp's
// converter names them): general.architecture and the <arch>.* hyper-parameters.
void add_config_keys(const ModelConfig& config, GgufMetadata& out);

}  // namespace pocket
