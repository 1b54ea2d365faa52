#include "model/model_weights.h"

#include <utility>

#include "io/error.h"

namespace pocket {
namespace {

using Shape = std::vector<std::int64_t>;

// Binding happens in two passes: vectors are recorded first and converted into one fp32 buffer
// at the end, so that the pointers into it are taken once the buffer no longer moves.
// Without a checkpoint the binder only records the tensors it would need (model_tensor_specs):
// one list of names and shapes serves loading and `pocket init`.
class Binder {
 public:
  Binder(const Checkpoint* ckpt, ModelWeights& out, std::vector<TensorSpec>* record)
      : ckpt_(ckpt), out_(out), record_(record) {}

  const fp16* matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    if (ckpt_ == nullptr) {
      record_->push_back({name, Dtype::kF16, {rows, cols}});
      return nullptr;
    }
    const TensorView& t = ckpt_->require(name, Dtype::kF16, {rows, cols});
    out_.matrix_bytes += static_cast<std::int64_t>(t.nbytes);
    return reinterpret_cast<const fp16*>(t.data);
  }

  void vector(const std::string& name, std::int64_t n, const float** slot) {
    if (ckpt_ == nullptr) {
      record_->push_back({name, Dtype::kF16, {n}});
      return;
    }
    const TensorView& t = ckpt_->require(name, Dtype::kF16, {n});
    pending_.push_back({&t, n, slot});
  }

  // The first row of a [rows, cols] table, as an fp32 vector.
  void first_row(const std::string& name, std::int64_t rows, std::int64_t cols,
                 const float** slot) {
    if (ckpt_ == nullptr) {
      record_->push_back({name, Dtype::kF16, {rows, cols}});
      return;
    }
    const TensorView& t = ckpt_->require(name, Dtype::kF16, {rows, cols});
    pending_.push_back({&t, cols, slot});
  }

  // Binds in place: the bias slot must be the Linear's final address (finish() writes to it).
  void linear(Linear& l, const std::string& prefix, std::int64_t out, std::int64_t in,
              bool bias) {
    l.name = prefix + ".weight";
    l.w = matrix(l.name, out, in);
    l.out = out;
    l.in = in;
    if (bias) vector(prefix + ".bias", out, &l.bias);
  }

  void norm(NormWeights& w, const std::string& prefix, std::int64_t n, bool with_bias) {
    vector(prefix + ".weight", n, &w.w);
    if (with_bias) vector(prefix + ".bias", n, &w.b);
  }

  // Converts the recorded vectors; the slots may live in out_.layers, which is final by now.
  void finish() {
    std::int64_t total = 0;
    for (const auto& p : pending_) total += p.n;
    out_.small.resize(static_cast<std::size_t>(total));
    std::int64_t offset = 0;
    for (const auto& p : pending_) {
      const std::int64_t n = p.n;
      float* dst = out_.small.data() + offset;
      f16_to_f32(reinterpret_cast<const fp16*>(p.tensor->data), dst, static_cast<std::size_t>(n));
      *p.slot = dst;
      out_.small_tensors.push_back({p.tensor->name, offset, n});
      offset += n;
    }
  }

 private:
  struct Pending {
    const TensorView* tensor;
    std::int64_t n;  // leading elements used
    const float** slot;
  };
  const Checkpoint* ckpt_;
  ModelWeights& out_;
  std::vector<TensorSpec>* record_;
  std::vector<Pending> pending_;
};

void bind_opt(const ModelConfig& c, Binder& b, ModelWeights& w) {
  const std::string p = "model.decoder.";
  const std::int64_t d = c.hidden;
  w.token_embed_name = p + "embed_tokens.weight";
  w.token_embed = b.matrix(w.token_embed_name, c.vocab_size, c.embed_dim);
  w.position_rows = c.max_positions + c.position_offset;
  w.position_embed_name = p + "embed_positions.weight";
  w.position_embed = b.matrix(w.position_embed_name, w.position_rows, d);
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
  w.token_embed_name = p + "embeddings.word_embeddings.weight";
  w.token_embed = b.matrix(w.token_embed_name, c.vocab_size, d);
  w.position_rows = c.max_positions;
  w.position_embed_name = p + "embeddings.position_embeddings.weight";
  w.position_embed = b.matrix(w.position_embed_name, w.position_rows, d);
  // Only token type 0 is ever used: keep its row as an fp32 vector.
  b.first_row(p + "embeddings.token_type_embeddings.weight", c.type_vocab_size, d,
              &w.token_type0);
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
}

void bind_llama(const ModelConfig& c, Binder& b, ModelWeights& w) {
  const std::string p = "model.";
  const std::int64_t d = c.hidden, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  w.token_embed_name = p + "embed_tokens.weight";
  w.token_embed = b.matrix(w.token_embed_name, c.vocab_size, d);
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

void bind_all(const ModelConfig& c, Binder& b, ModelWeights& w) {
  switch (c.arch) {
    case Arch::kOpt: bind_opt(c, b, w); break;
    case Arch::kRoberta: bind_roberta(c, b, w); break;
    case Arch::kLlama: bind_llama(c, b, w); break;
  }
  // The head: an explicit weight when the checkpoint has one and the config does not tie it;
  // otherwise the token embeddings (OPT and RoBERTa checkpoints usually omit the tied copy).
  const std::string head_name = c.arch == Arch::kRoberta ? "lm_head.decoder" : "lm_head";
  w.head.out = c.vocab_size;
  w.head.in = c.embed_dim;
  if (!c.tie_word_embeddings) {
    w.head.name = head_name + ".weight";
    w.head.w = b.matrix(w.head.name, c.vocab_size, c.embed_dim);
  } else {
    w.head.name = w.token_embed_name;
    w.head.w = w.token_embed;
  }
  if (c.arch == Arch::kRoberta) b.vector("lm_head.bias", c.vocab_size, &w.head.bias);
}

}  // namespace

ModelWeights bind_weights(const ModelConfig& config, const Checkpoint& ckpt) {
  ModelWeights w;
  Binder b(&ckpt, w, nullptr);
  bind_all(config, b, w);
  b.finish();
  return w;
}

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& config) {
  ModelWeights unused;
  std::vector<TensorSpec> specs;
  Binder b(nullptr, unused, &specs);
  bind_all(config, b, unused);
  return specs;
}

}  // namespace pocket
