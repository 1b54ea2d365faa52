#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "io/error.h"
#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/thread_pool.h"

namespace pocket {

Model::Model(const std::string& dir)
    : dir_(dir),
      config_(load_model_config(dir)),
      checkpoint_(dir),
      weights_(bind_weights(config_, checkpoint_)) {
  // Every forward reads every weight: ask the kernel to start reading the files in now
  // (asynchronous readahead; the pages stay clean page cache either way).
  for (const auto& file : checkpoint_.files()) file->mapping().advise(MapAdvice::kWillNeed);
  if (config_.arch == Arch::kLlama) {
    rope_ = std::make_unique<RopeTable>(static_cast<int>(config_.head_dim), config_.max_positions,
                                        config_.rope_theta);
  }
}

namespace {

std::int64_t qkv_width(const ModelConfig& c) { return (c.n_heads + 2 * c.n_kv_heads) * c.head_dim; }
std::int64_t widest(const ModelConfig& c) { return std::max(c.hidden, c.embed_dim); }

// y[M, l.out] (row stride ldy) = x[M, l.in] (row stride ldx) · l.wᵀ + l.bias (+ y)
void apply(const Linear& l, std::int64_t M, const float* x, std::int64_t ldx, float* y,
           std::int64_t ldy, bool accumulate = false) {
  GemmOptions options;
  options.bias = l.bias;
  options.accumulate = accumulate;
  gemm_f16w(M, l.out, l.in, x, ldx, l.w, l.in, y, ldy, options);
}

void normalize(const ModelConfig& c, const NormWeights& w, const float* x, float* out,
               std::int64_t rows, std::int64_t width) {
  if (c.norm == Norm::kRmsNorm) {
    rmsnorm(x, out, rows, width, w.w, c.norm_eps);
  } else {
    layernorm(x, out, rows, width, w.w, w.b, c.norm_eps);
  }
}

void activate(Activation a, float* x, std::int64_t n) {
  switch (a) {
    case Activation::kRelu: relu(x, x, n); break;
    case Activation::kGelu: gelu(x, x, n); break;
    case Activation::kGeluTanh: gelu_tanh(x, x, n); break;
    case Activation::kSilu: silu(x, x, n); break;
  }
}

// Llama's gated MLP input: gate[r, :] = silu(gate[r, :]) * up[r, :] over rows of [gate | up].
void swiglu_rows(float* gate_up, std::int64_t rows, std::int64_t F) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* g = gate_up + r * 2 * F;
    const float* u = g + F;
    silu(g, g, F);
    for (std::int64_t i = 0; i < F; ++i) g[i] *= u[i];
  }
}

}  // namespace

Session::Session(const Model& model, const SessionLimits& limits)
    : model_(model), limits_(limits) {
  const ModelConfig& c = model.config();
  if (limits.max_batch < 1 || limits.max_len < 1 || limits.max_logit_rows < 0 ||
      limits.kv_cache_len < 0) {
    throw Error("session", "batch, length and logit rows must be positive");
  }
  if (limits.kv_cache_len > 0 && !c.causal()) {
    throw Error("session", std::string(arch_name(c.arch)) + " is not causal: no KV cache");
  }
  const std::int64_t n = limits.max_batch * limits.max_len;
  const std::int64_t attn_width = std::max(c.n_heads * c.head_dim, c.hidden);
  const std::int64_t ffn_width = c.ffn_dim * (c.arch == Arch::kLlama ? 2 : 1);
  const std::int64_t sizes[] = {n * c.hidden, n * widest(c), n * qkv_width(c), n * attn_width,
                                n * ffn_width, 2 * limits.max_logit_rows * widest(c)};
  std::int64_t total = 0;
  for (std::int64_t s : sizes) total += s;
  arena_.assign(static_cast<std::size_t>(total), 0.0f);
  float* p = arena_.data();
  float** views[] = {&x_, &h_, &qkv_, &attn_, &ffn_, &rows_};
  for (int i = 0; i < 6; ++i) {
    *views[i] = p;
    p += sizes[i];
  }
  if (limits.kv_cache_len > 0) {
    kv_.assign(static_cast<std::size_t>(2 * c.n_layers * limits.max_batch * limits.kv_cache_len *
                                        c.n_kv_heads * c.head_dim),
               0.0f);
  }
  positions_.resize(static_cast<std::size_t>(n));
  position_rows_.resize(static_cast<std::size_t>(n));
  row_index_.resize(static_cast<std::size_t>(limits.max_batch));
  // Packing panels for the largest GEMM, reserved now so that forward() never allocates.
  const std::int64_t max_k = std::max({widest(c), c.ffn_dim, c.n_heads * c.head_dim});
  default_pool().reserve_scratch(
      gemm_scratch_bytes(gemm_kernel_native(), std::max(n, limits.max_logit_rows), max_k, 1));
}

std::size_t Session::arena_bytes() const { return arena_.size() * sizeof(float); }
std::size_t Session::kv_cache_bytes() const { return kv_.size() * sizeof(float); }

void Session::forward(const TokenBatch& batch, const std::int64_t* rows, std::int64_t n_rows,
                      float* logits) {
  if (batch.batch < 1 || batch.batch > limits_.max_batch || batch.len < 1 ||
      batch.len > limits_.max_len) {
    throw Error("forward", "batch of " + std::to_string(batch.batch) + " x " +
                               std::to_string(batch.len) + " tokens exceeds the session's " +
                               std::to_string(limits_.max_batch) + " x " +
                               std::to_string(limits_.max_len));
  }
  // Position of each token = real tokens before it in its sequence; -1 marks padding.
  for (std::int64_t b = 0; b < batch.batch; ++b) {
    std::int32_t count = 0;
    for (std::int64_t t = 0; t < batch.len; ++t) {
      const std::int64_t i = b * batch.len + t;
      const bool real = batch.mask == nullptr || batch.mask[i] != 0;
      positions_[static_cast<std::size_t>(i)] = real ? count++ : -1;
    }
  }
  run(batch, positions_.data(), 0, /*use_cache=*/false, rows, n_rows, logits);
}

void Session::forward_cached(const std::int32_t* ids, std::int64_t batch, std::int64_t len,
                             float* logits) {
  if (limits_.kv_cache_len == 0) throw Error("forward", "the session has no KV cache");
  if (batch < 1 || batch > limits_.max_batch || len < 1 || len > limits_.max_len) {
    throw Error("forward", "batch of " + std::to_string(batch) + " x " + std::to_string(len) +
                               " tokens exceeds the session's limits");
  }
  if (cached_ + len > limits_.kv_cache_len) {
    throw Error("generate", "KV cache full: " + std::to_string(cached_ + len) +
                                " positions, the session holds " +
                                std::to_string(limits_.kv_cache_len));
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t t = 0; t < len; ++t) {
      positions_[static_cast<std::size_t>(b * len + t)] = static_cast<std::int32_t>(cached_ + t);
    }
    row_index_[static_cast<std::size_t>(b)] = b * len + len - 1;
  }
  TokenBatch tb{batch, len, ids, nullptr};
  run(tb, positions_.data(), cached_, /*use_cache=*/true, row_index_.data(), batch, logits);
  cached_ += len;
}

// The forward pass. Activations are rows of one token each, n = B·T of them; `pos` holds each
// token's position (-1: padding). With use_cache, the new keys/values go into the KV cache after
// the `past` positions already there and attention reads the cache; otherwise it reads qkv_.
void Session::run(const TokenBatch& batch, const std::int32_t* pos, std::int64_t past,
                  bool use_cache, const std::int64_t* rows, std::int64_t n_rows, float* logits) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const std::int64_t B = batch.batch, T = batch.len, n = B * T;
  const std::int64_t d = c.hidden, E = c.embed_dim, F = c.ffn_dim;
  const std::int64_t Q = c.n_heads * c.head_dim, KV = c.n_kv_heads * c.head_dim;
  const std::int64_t QKV = qkv_width(c);
  if (n_rows < 0 || n_rows > limits_.max_logit_rows) {
    throw Error("forward", std::to_string(n_rows) + " rows of logits asked, the session holds " +
                               std::to_string(limits_.max_logit_rows));
  }
  for (std::int64_t i = 0; i < n_rows; ++i) {
    if (rows[i] < 0 || rows[i] >= n) throw Error("forward", "logit row out of the batch");
  }
  for (std::int64_t i = 0; i < n; ++i) {
    if (batch.ids[i] < 0 || batch.ids[i] >= c.vocab_size) {
      throw Error("forward", "token id " + std::to_string(batch.ids[i]) + " is not below " +
                                 "vocab_size " + std::to_string(c.vocab_size));
    }
  }

  // Embeddings: x = tokens (·project_in) + learned positions (+ token type 0, LayerNorm).
  if (c.arch == Arch::kLlama) {
    const std::int64_t last = past + T - 1;
    if (last >= c.max_positions) {
      throw Error("forward", "position " + std::to_string(last) + " is past max_position_embeddings " +
                                 std::to_string(c.max_positions));
    }
    embedding_gather(w.token_embed, c.vocab_size, d, batch.ids, n, nullptr, x_);
  } else {
    // Learned position table rows. OPT: position + 2, padding -> row 1 (HF: cumsum(mask)·mask − 1
    // + 2). RoBERTa: padding_idx + 1 + position, padding -> padding_idx.
    std::int32_t* table_rows = position_rows_.data();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t p = pos[i];
      std::int64_t r;
      if (c.arch == Arch::kOpt) {
        r = p < 0 ? 1 : p + c.position_offset;
      } else {
        r = p < 0 ? c.pad_token_id : c.pad_token_id + 1 + p;
      }
      if (r >= w.position_rows) {
        throw Error("forward", "sequence longer than max_position_embeddings " +
                                   std::to_string(c.max_positions));
      }
      table_rows[i] = static_cast<std::int32_t>(r);
    }
    embedding_gather(w.position_embed, w.position_rows, d, table_rows, n, nullptr, attn_);
    if (w.token_type0 != nullptr) {
      for (std::int64_t i = 0; i < n; ++i) residual_add(attn_ + i * d, w.token_type0, d);
    }
    if (w.project_in) {
      embedding_gather(w.token_embed, c.vocab_size, E, batch.ids, n, nullptr, h_);
      apply(w.project_in, n, h_, E, x_, d);
      residual_add(x_, attn_, n * d);
    } else {
      embedding_gather(w.token_embed, c.vocab_size, d, batch.ids, n, attn_, x_);
    }
    if (w.embed_norm.w != nullptr) normalize(c, w.embed_norm, x_, x_, n, d);
  }

  // Attention geometry: queries from qkv_, keys/values from qkv_ or from the cache.
  AttentionShape shape;
  shape.batch = B;
  shape.q_len = T;
  shape.n_heads = static_cast<int>(c.n_heads);
  shape.n_heads_kv = static_cast<int>(c.n_kv_heads);
  shape.head_dim = static_cast<int>(c.head_dim);
  shape.causal = c.causal();
  shape.q_stride = QKV;
  shape.out_stride = Q;
  const std::int64_t S = limits_.kv_cache_len;
  const std::uint8_t* key_mask = batch.mask;

  for (std::int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& L = w.layers[static_cast<std::size_t>(li)];
    // Attention block.
    const float* in = x_;
    if (c.pre_norm) {
      normalize(c, L.attn_norm, x_, h_, n, d);
      in = h_;
    }
    apply(L.q, n, in, d, qkv_, QKV);
    apply(L.k, n, in, d, qkv_ + Q, QKV);
    apply(L.v, n, in, d, qkv_ + Q + KV, QKV);
    if (c.arch == Arch::kLlama) {
      // Padding rows take position 0: their outputs are never read.
      std::int32_t* rp = position_rows_.data();
      for (std::int64_t i = 0; i < n; ++i) rp[i] = std::max(pos[i], 0);
      rope(qkv_, n, static_cast<int>(c.n_heads), QKV, rp, *model_.rope());
      rope(qkv_ + Q, n, static_cast<int>(c.n_kv_heads), QKV, rp, *model_.rope());
    }
    if (use_cache) {
      float* k_cache = kv_.data() + (2 * li) * limits_.max_batch * S * KV;
      float* v_cache = k_cache + limits_.max_batch * S * KV;
      for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t t = 0; t < T; ++t) {
          const float* row = qkv_ + (b * T + t) * QKV;
          std::memcpy(k_cache + (b * S + past + t) * KV, row + Q, sizeof(float) * KV);
          std::memcpy(v_cache + (b * S + past + t) * KV, row + Q + KV, sizeof(float) * KV);
        }
      }
      shape.kv_len = past + T;
      shape.kv_stride = KV;
      shape.kv_batch_stride = S * KV;
      attention(qkv_, k_cache, v_cache, nullptr, attn_, shape);
    } else {
      shape.kv_len = T;
      shape.kv_stride = QKV;
      shape.kv_batch_stride = T * QKV;
      attention(qkv_, qkv_ + Q, qkv_ + Q + KV, key_mask, attn_, shape);
    }
    apply(L.o, n, attn_, Q, x_, d, /*accumulate=*/true);
    if (!c.pre_norm) normalize(c, L.attn_norm, x_, x_, n, d);

    // MLP block.
    in = x_;
    if (c.pre_norm) {
      normalize(c, L.mlp_norm, x_, h_, n, d);
      in = h_;
    }
    if (L.gate) {
      apply(L.gate, n, in, d, ffn_, 2 * F);
      apply(L.up, n, in, d, ffn_ + F, 2 * F);
      swiglu_rows(ffn_, n, F);
      apply(L.down, n, ffn_, 2 * F, x_, d, /*accumulate=*/true);
    } else {
      apply(L.up, n, in, d, ffn_, F);
      activate(c.activation, ffn_, n * F);
      apply(L.down, n, ffn_, F, x_, d, /*accumulate=*/true);
    }
    if (!c.pre_norm) normalize(c, L.mlp_norm, x_, x_, n, d);
  }

  // Head, only at the rows asked for: gather, final norm, projections, vocabulary GEMM.
  if (n_rows == 0) return;
  float* a = rows_;
  float* b2 = rows_ + limits_.max_logit_rows * widest(c);
  for (std::int64_t i = 0; i < n_rows; ++i) {
    std::memcpy(a + i * d, x_ + rows[i] * d, sizeof(float) * d);
  }
  if (c.final_norm) normalize(c, w.final_norm, a, a, n_rows, d);
  if (w.project_out) {
    apply(w.project_out, n_rows, a, d, b2, E);
    std::swap(a, b2);
  }
  if (w.mlm_dense) {
    apply(w.mlm_dense, n_rows, a, d, b2, d);
    gelu(b2, b2, n_rows * d);
    layernorm(b2, b2, n_rows, d, w.mlm_norm.w, w.mlm_norm.b, c.norm_eps);
    std::swap(a, b2);
  }
  apply(w.head, n_rows, a, E, logits, c.vocab_size);
}

}  // namespace pocket
