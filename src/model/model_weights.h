// Every tensor a forward pass reads, bound by its Hugging Face name into the parameter table
// (params.h), and the model's structure as references into it.
//
// Matrices (projections, embeddings) are views into the mapped checkpoint or GGUF file, in its
// format (F16, or a GGUF block format): used in place, never copied. Vectors (biases, norm weights) are read through their fp32 copies (Param::f32), because
// the kernels take them in fp32 and they are tiny (OPT-1.3B: 0.4 M floats of 1.3 G parameters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/params.h"
#include "model/tensor_source.h"

namespace pocket {

// y[M, out] = x[M, in] · wᵀ (+ bias) (+ lora_scale · (x · Aᵀ) · Bᵀ with LoRA, model/lora.h)
struct Linear {
  const Param* weight = nullptr;  // [out, in]; null when the model has no such layer
  const Param* bias = nullptr;    // [out], or null
  const Param* lora_a = nullptr;  // [r, in] F32 adapter (Model::attach_lora), or null
  const Param* lora_b = nullptr;  // [out, r] F32 adapter
  float lora_scale = 0.0f;        // alpha / r
  explicit operator bool() const { return weight != nullptr; }
  std::int64_t out() const { return weight->view.rows; }
  std::int64_t in() const { return weight->view.cols; }
};

// LayerNorm (weight, bias) or RMSNorm (weight only).
struct NormWeights {
  const Param* weight = nullptr;
  const Param* bias = nullptr;
};

struct LayerWeights {
  Linear q, k, v, o;
  Linear up;    // OPT fc1, RoBERTa intermediate.dense, Llama up_proj
  Linear down;  // OPT fc2, RoBERTa output.dense, Llama down_proj
  Linear gate;  // Llama gate_proj (gated MLP only)
  NormWeights attn_norm;  // pre-LN: before attention; post-LN: after the attention residual
  NormWeights mlp_norm;   // pre-LN: before the MLP;   post-LN: after the MLP residual
};

struct ModelWeights {
  ParamTable params;                     // every tensor below, once (a tied head is the embeddings)
  const Param* token_embed = nullptr;    // [vocab, embed_dim]
  const Param* position_embed = nullptr; // kLearned: [config.position_rows, hidden]
  const Param* token_type0 = nullptr;    // RoBERTa: row 0 of the token-type table, as a vector
  NormWeights embed_norm;                // RoBERTa embeddings.LayerNorm
  Linear project_in, project_out;        // OPT with word_embed_proj_dim != hidden
  std::vector<LayerWeights> layers;
  NormWeights final_norm;                // when config.final_norm
  Linear mlm_dense;                      // Head::kMlm: lm_head.dense
  NormWeights mlm_norm;                  // Head::kMlm: lm_head.layer_norm
  Linear head;                           // [vocab, embed_dim]; the embeddings when tied

  // The references point into `params`: a copy would point into the original.
  ModelWeights() = default;
  ModelWeights(ModelWeights&&) = default;
  ModelWeights& operator=(ModelWeights&&) = default;
  ModelWeights(const ModelWeights&) = delete;
  ModelWeights& operator=(const ModelWeights&) = delete;
};

// Binds the tensors of `config`'s architecture in `source`, each with the shape the config
// implies; a missing, mis-typed or mis-shaped tensor is a one-line pocket::Error naming the file
// and the tensor. Tensors the forward does not use (e.g. a pooler) are ignored.
ModelWeights bind_weights(const ModelConfig& config, const TensorSource& source);
// The same over a safetensors checkpoint (every tensor F16).
ModelWeights bind_weights(const ModelConfig& config, const Checkpoint& ckpt);

// The parameter table of `config` without data (names, shapes, kinds), in binding order: what
// bind_weights reads, and what `pocket init` writes.
ParamTable model_params(const ModelConfig& config);
// The same as the F16 tensors of a checkpoint.
std::vector<TensorSpec> model_tensor_specs(const ModelConfig& config);

}  // namespace pocket
