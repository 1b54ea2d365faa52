// config.json of a Hugging Face model directory -> the one description of an architecture that
// the forward pass reads. Three families, told apart by "model_type":
//   opt      OPT: learned positions (offset 2), ReLU MLP, pre-LN (do_layer_norm_before) or post-LN,
//            optional project_in/project_out when word_embed_proj_dim != hidden_size (opt-350m),
//            head tied to the token embeddings.
//   roberta  RoBERTa: post-LN encoder, GELU, positions counted from padding_idx + 1 over non-pad
//            tokens, token type 0, MLM head dense -> GELU -> layernorm -> decoder (tied) + bias.
//   llama    Llama family (also "mistral", "qwen2"): RMSNorm, RoPE (rope_theta), SwiGLU MLP,
//            grouped-query attention, tied or untied head, optional q/k/v (and o) biases.
#pragma once

#include <cstdint>
#include <string>

#include "io/rope_scaling.h"

namespace pocket {

enum class Arch { kOpt, kRoberta, kLlama };
enum class Activation { kRelu, kGelu, kGeluTanh, kSilu };
enum class Norm { kLayerNorm, kRmsNorm };
// How a token's position enters: rows of a learned table added to the embeddings, or rotary
// embeddings applied to queries and keys in every layer.
enum class Positions { kLearned, kRope };
// What turns the last hidden state into logits: one linear layer (after the final norm, if any),
// or RoBERTa's MLM head (dense -> GELU -> LayerNorm -> decoder + bias).
enum class Head { kLinear, kMlm };

struct ModelConfig {
  Arch arch = Arch::kOpt;
  std::string model_type;  // as written in config.json ("opt", "roberta", "llama", "qwen2", ...)

  std::int64_t vocab_size = 0;
  std::int64_t hidden = 0;          // d_model
  std::int64_t n_layers = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;      // == n_heads unless grouped-query attention
  std::int64_t head_dim = 0;        // hidden / n_heads unless config.json says otherwise
  std::int64_t ffn_dim = 0;         // MLP inner width
  std::int64_t max_positions = 0;   // positions the model was trained for (table rows for OPT/RoBERTa)
  std::int64_t embed_dim = 0;       // token embedding width: OPT word_embed_proj_dim, else hidden

  Norm norm = Norm::kLayerNorm;
  float norm_eps = 1e-5f;
  Activation activation = Activation::kRelu;
  bool pre_norm = true;             // false: post-LN (RoBERTa, OPT with do_layer_norm_before=false)
  bool final_norm = true;           // a norm after the last layer (OPT pre-LN, Llama)
  bool tie_word_embeddings = true;  // head weight = token embeddings

  // Biases of the linear layers.
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;

  // Positions.
  float rope_theta = 10000.0f;       // Llama only
  RopeScaling rope_scaling;          // Llama only: config.json's rope_scaling (io/rope_scaling.h)
  // Llama only: q/k rows within each head in ggml's order (GGUF files of the llama architecture,
  // permuted by llama.cpp's converter), rotated as interleaved pairs (kernels/rope.h).
  bool rope_interleaved = false;
  std::int64_t type_vocab_size = 0;  // RoBERTa token types (type 0 is used)

  std::int32_t pad_token_id = -1;
  std::int32_t bos_token_id = -1;
  std::int32_t eos_token_id = -1;

  // The features the one forward pass reads instead of the family (set_family_features):
  bool causal = true;                  // a token attends to the tokens before it only
  Positions positions = Positions::kLearned;
  std::int64_t position_rows = 0;      // kLearned: rows of the table
  std::int64_t position_first_row = 0; // kLearned: the row of position 0 (OPT 2, RoBERTa pad + 1)
  std::int64_t position_pad_row = 0;   // kLearned: the row a padding token reads (OPT 1, RoBERTa pad)
  bool gated_mlp = false;              // down(act(gate(x)) * up(x)) instead of down(act(up(x)))
  Head head = Head::kLinear;

  // Parameters in the checkpoint (weights + biases + norms), for reports.
  std::int64_t n_params() const;
};

// Parses <dir>/config.json. Throws pocket::Error("<dir>/config.json", "...") for bad JSON, an
// unknown model_type, a missing or out-of-range field, or an option pocket does not implement
// (e.g. sliding windows, rope_type longrope).
ModelConfig load_model_config(const std::string& dir);

// Sets the feature fields (causal .. head) that `arch` implies, from max_positions and
// pad_token_id: what load_model_config does last, and what a config built in code must call.
void set_family_features(ModelConfig& config);

// The config.json text Hugging Face would write for `config` (used by `pocket init`).
std::string model_config_json(const ModelConfig& config);

const char* arch_name(Arch arch);

}  // namespace pocket
