#include "model/model_weights.h"

#include <utility>

#include "io/error.h"

namespace pocket {
namespace {

// Each call adds one Param to the table and, with a source, points its view at the tensor's
// bytes (of the shape the config implies). Without a source the table only lists the tensors
// (model_params): one list of names and shapes serves loading and `pocket init`.
class Binder {
 public:
  Binder(const TensorSource* source, ParamTable& table) : source_(source), table_(table) {}

  const Param* matrix(const std::string& name, std::int64_t rows, std::int64_t cols,
                      ParamKind kind = ParamKind::kMatrix) {
    Param& p = table_.add(name, {rows, cols}, kind);
    p.view = view(name, {rows, cols}, kind, rows, cols);
    return &p;
  }

  const Param* vector(const std::string& name, std::int64_t n) {
    Param& p = table_.add(name, {n}, ParamKind::kVector);
    p.view = view(name, {n}, ParamKind::kVector, 1, n);
    return &p;
  }

  // The first row of a [rows, cols] table, as a vector of cols elements.
  const Param* first_row(const std::string& name, std::int64_t rows, std::int64_t cols) {
    Param& p = table_.add(name, {rows, cols}, ParamKind::kVector);
    p.numel = cols;
    p.view = view(name, {rows, cols}, ParamKind::kVector, 1, cols);
    return &p;
  }

  void linear(Linear& l, const std::string& prefix, std::int64_t out, std::int64_t in,
              bool bias) {
    l.weight = matrix(prefix + ".weight", out, in);
    if (bias) l.bias = vector(prefix + ".bias", out);
  }

  void norm(NormWeights& w, const std::string& prefix, std::int64_t n, bool with_bias) {
    w.weight = vector(prefix + ".weight", n);
    if (with_bias) w.bias = vector(prefix + ".bias", n);
  }

  void finish() { table_.finish_vectors(); }

 private:
  // rows x cols leading elements of the source's tensor `name` of shape `shape`.
  WeightView view(const std::string& name, const std::vector<std::int64_t>& shape, ParamKind kind,
                  std::int64_t rows, std::int64_t cols) {
    if (source_ == nullptr) return {};
    WeightView v = source_->tensor(name, shape, kind);
    v.rows = rows;
    v.cols = cols;
    return v;
  }

  const TensorSource* source_;
  ParamTable& table_;
};

void bind_opt(const ModelConfig& c, Binder& b, ModelWeights& w) {
  const std::string p = "model.decoder.";
  const std::int64_t d = c.hidden;
  w.token_embed = b.matrix(p + "embed_tokens.weight", c.vocab_size, c.embed_dim,
                           ParamKind::kEmbedding);
  w.position_embed = b.matrix(p + "embed_positions.weight", c.position_rows, d,
                              ParamKind::kEmbedding);
  if (c.embed_dim != d) {
    b.linear(w.project_in, p + "project_in", d, c.embed_dim, false);
    b.linear(w.project_out, p + "project_out", c.embed_dim, d, false);
  }
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = p + "layers." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[static_cast<std::size_t>(i)];
    b.linear(L.q, l + "self_attn.q_proj", d, d, c.qkv_bias);
    b.linear(L.k, l + "self_attn.k_proj", d, d, c.qkv_bias);
    b.linear(L.v, l + "self_attn.v_proj", d, d, c.qkv_bias);
    b.linear(L.o, l + "self_attn.out_proj", d, d, c.o_bias);
    b.linear(L.up, l + "fc1", c.ffn_dim, d, c.mlp_bias);
    b.linear(L.down, l + "fc2", d, c.ffn_dim, c.mlp_bias);
    b.norm(L.attn_norm, l + "self_attn_layer_norm", d, true);
    b.norm(L.mlp_norm, l + "final_layer_norm", d, true);
  }
  if (c.final_norm) b.norm(w.final_norm, p + "final_layer_norm", d, true);
}

void bind_roberta(const ModelConfig& c, Binder& b, ModelWeights& w) {
  const std::string p = "roberta.";
  const std::int64_t d = c.hidden;
  w.token_embed = b.matrix(p + "embeddings.word_embeddings.weight", c.vocab_size, d,
                           ParamKind::kEmbedding);
  w.position_embed = b.matrix(p + "embeddings.position_embeddings.weight", c.position_rows, d,
                              ParamKind::kEmbedding);
  // Only token type 0 is ever used: keep its row as an fp32 vector.
  w.token_type0 =
      b.first_row(p + "embeddings.token_type_embeddings.weight", c.type_vocab_size, d);
  b.norm(w.embed_norm, p + "embeddings.LayerNorm", d, true);
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = p + "encoder.layer." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[static_cast<std::size_t>(i)];
    b.linear(L.q, l + "attention.self.query", d, d, true);
    b.linear(L.k, l + "attention.self.key", d, d, true);
    b.linear(L.v, l + "attention.self.value", d, d, true);
    b.linear(L.o, l + "attention.output.dense", d, d, true);
    b.norm(L.attn_norm, l + "attention.output.LayerNorm", d, true);
    b.linear(L.up, l + "intermediate.dense", c.ffn_dim, d, true);
    b.linear(L.down, l + "output.dense", d, c.ffn_dim, true);
    b.norm(L.mlp_norm, l + "output.LayerNorm", d, true);
  }
  b.linear(w.mlm_dense, "lm_head.dense", d, d, true);
  b.norm(w.mlm_norm, "lm_head.layer_norm", d, true);
  // The decoder: its weight is tied to the embeddings (bind_head), its bias its own.
  if (!c.tie_word_embeddings) {
    w.head.weight = b.matrix("lm_head.decoder.weight", c.vocab_size, c.embed_dim);
  }
  w.head.bias = b.vector("lm_head.bias", c.vocab_size);
}

void bind_llama(const ModelConfig& c, Binder& b, ModelWeights& w) {
  const std::string p = "model.";
  const std::int64_t d = c.hidden, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  w.token_embed = b.matrix(p + "embed_tokens.weight", c.vocab_size, d, ParamKind::kEmbedding);
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = p + "layers." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[static_cast<std::size_t>(i)];
    b.linear(L.q, l + "self_attn.q_proj", q, d, c.qkv_bias);
    b.linear(L.k, l + "self_attn.k_proj", kv, d, c.qkv_bias);
    b.linear(L.v, l + "self_attn.v_proj", kv, d, c.qkv_bias);
    b.linear(L.o, l + "self_attn.o_proj", d, q, c.o_bias);
    b.linear(L.gate, l + "mlp.gate_proj", c.ffn_dim, d, c.mlp_bias);
    b.linear(L.up, l + "mlp.up_proj", c.ffn_dim, d, c.mlp_bias);
    b.linear(L.down, l + "mlp.down_proj", d, c.ffn_dim, c.mlp_bias);
    b.norm(L.attn_norm, l + "input_layernorm", d, false);
    b.norm(L.mlp_norm, l + "post_attention_layernorm", d, false);
  }
  b.norm(w.final_norm, p + "norm", d, false);
}

}  // namespace

namespace {

// One declaration of each family's tensors; the head last: its own weight when the checkpoint has
// one and the config does not tie it, otherwise the token embeddings (OPT and RoBERTa
// checkpoints usually omit the tied copy).
void bind_all(const ModelConfig& c, Binder& b, ModelWeights& w) {
  switch (c.arch) {
    case Arch::kOpt: bind_opt(c, b, w); break;
    case Arch::kRoberta: bind_roberta(c, b, w); break;
    case Arch::kLlama: bind_llama(c, b, w); break;
  }
  if (w.head.weight == nullptr) {
    w.head.weight = c.tie_word_embeddings ? w.token_embed
                                          : b.matrix("lm_head.weight", c.vocab_size, c.embed_dim);
  }
}

}  // namespace

ModelWeights bind_weights(const ModelConfig& config, const TensorSource& source) {
  ModelWeights w;
  Binder b(&source, w.params);
  bind_all(config, b, w);
  b.finish();
  return w;
}

ModelWeights bind_weights(const ModelConfig& config, const Checkpoint& ckpt) {
  return bind_weights(config, CheckpointSource(ckpt));
}

ParamTable model_params(const ModelConfig& config) {
  ModelWeights w;
  Binder b(nullptr, w.params);
  bind_all(config, b, w);
  return std::move(w.params);
}

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& config) {
  std::vector<TensorSpec> specs;
  model_params(config).for_each(
      [&](const Param& p) { specs.push_back({p.name, Dtype::kF16, p.shape}); });
  return specs;
}

}  // namespace pocket
