// Every tensor a forward pass reads, bound by its Hugging Face name.
//
// Matrices (projections, embeddings) are fp16 pointers into the mapped checkpoint: used in place,
// never copied. Vectors (biases, norm weights) are converted once to fp32 into `small`, because
// the kernels take them in fp32 and they are tiny (OPT-1.3B: 0.4 M floats of 1.3 G parameters).
// Each bound tensor keeps its checkpoint name: the ZO perturbation z is keyed by it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"

namespace pocket {

// y[M, out] = x[M, in] · wᵀ (+ bias)
struct Linear {
  const fp16* w = nullptr;  // [out, in] in the mapping; null when the model has no such layer
  std::int64_t out = 0;
  std::int64_t in = 0;
  const float* bias = nullptr;  // [out] fp32, or null
  std::string name;             // checkpoint name of w
  explicit operator bool() const { return w != nullptr; }
};

// LayerNorm (w, b) or RMSNorm (w only).
struct NormWeights {
  const float* w = nullptr;
  const float* b = nullptr;
};

struct LayerWeights {
  Linear q, k, v, o;
  Linear up;    // OPT fc1, RoBERTa intermediate.dense, Llama up_proj
  Linear down;  // OPT fc2, RoBERTa output.dense, Llama down_proj
  Linear gate;  // Llama gate_proj (gated MLP only)
  NormWeights attn_norm;  // pre-LN: before attention; post-LN: after the attention residual
  NormWeights mlp_norm;   // pre-LN: before the MLP;   post-LN: after the MLP residual
};

// One fp32 copy of a checkpoint vector inside ModelWeights::small.
struct SmallTensor {
  std::string name;
  std::int64_t offset = 0;  // in floats
  std::int64_t size = 0;
};

struct ModelWeights {
  const fp16* token_embed = nullptr;     // [vocab, embed_dim]
  std::string token_embed_name;
  const fp16* position_embed = nullptr;  // OPT [max_pos + 2, hidden], RoBERTa [max_pos, hidden]
  std::string position_embed_name;
  std::int64_t position_rows = 0;
  const float* token_type0 = nullptr;    // RoBERTa: row 0 of the token-type table [hidden]
  NormWeights embed_norm;                // RoBERTa embeddings.LayerNorm
  Linear project_in, project_out;        // OPT with word_embed_proj_dim != hidden
  std::vector<LayerWeights> layers;
  NormWeights final_norm;                // when config.final_norm
  Linear mlm_dense;                      // RoBERTa lm_head.dense
  NormWeights mlm_norm;                  // RoBERTa lm_head.layer_norm
  Linear head;                           // [vocab, embed_dim]; the embeddings when tied

  std::vector<float> small;              // every vector, fp32
  std::vector<SmallTensor> small_tensors;
  std::int64_t matrix_bytes = 0;         // fp16 bytes of the mapped matrices used
};

// Binds the tensors of `config`'s architecture in `ckpt`. Every tensor must be F16 with the
// shape the config implies; a missing, mis-typed or mis-shaped tensor is a one-line pocket::Error
// naming the file and the tensor. Tensors the forward does not use (e.g. a pooler) are ignored.
ModelWeights bind_weights(const ModelConfig& config, const Checkpoint& ckpt);

// The tensors (names, shapes, F16) a checkpoint of `config` holds, in binding order: what
// bind_weights reads, and what `pocket init` writes.
std::vector<TensorSpec> model_tensor_specs(const ModelConfig& config);

}  // namespace pocket
