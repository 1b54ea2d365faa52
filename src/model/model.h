// A transformer over a memory-mapped Hugging Face checkpoint: OPT, RoBERTa and the Llama family
// in one forward pass built only from src/kernels.
//
//   Model    the config, the mapped checkpoint and every weight bound by name (model_weights.h).
//            Matrices stay fp16 in the mapping; the small vectors (biases, norm weights) are
//            converted to fp32 once at load, a few hundred KB even for 1B models.
//   Session  a Model plus every buffer a forward needs, sized once from SessionLimits (the arena)
//            and an optional KV cache. forward() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "kernels/rope.h"
#include "model/model_weights.h"

namespace pocket {

class Model {
 public:
  // Loads config.json and the safetensors checkpoint of `dir`, binds every tensor the
  // architecture needs (F16, shapes from the config) and rejects anything missing or mis-shaped
  // with a one-line pocket::Error naming the file and the tensor.
  explicit Model(const std::string& dir);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Checkpoint& checkpoint() const { return checkpoint_; }
  const RopeTable* rope() const { return rope_.get(); }  // Llama only
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  ModelConfig config_;
  Checkpoint checkpoint_;
  ModelWeights weights_;
  std::unique_ptr<RopeTable> rope_;
};

// Token ids of a batch: B sequences of T positions, row-major [B, T]. mask[b*T + t] = 1 for a
// real token, 0 for padding (null: every token is real). Padding may be on either side; a
// token's position is the number of real tokens before it in its sequence (as Hugging Face's
// generate() computes position ids from the attention mask).
struct TokenBatch {
  std::int64_t batch = 1;
  std::int64_t len = 0;
  const std::int32_t* ids = nullptr;
  const std::uint8_t* mask = nullptr;
};

// Receives logits in chunks of rows, in row order, so that the caller never needs a [rows, vocab]
// buffer (a loss over every position of an LM batch would need hundreds of MB).
class LogitSink {
 public:
  virtual ~LogitSink() = default;
  // logits [count, vocab] of rows[first .. first + count) of the forward call, for `stream`
  // (0 for a plain forward; 0 = +eps and 1 = -eps for a two-stream one).
  virtual void consume(int stream, std::int64_t first, std::int64_t count, const float* logits) = 0;
};

struct SessionLimits {
  std::int64_t max_batch = 1;
  std::int64_t max_len = 0;        // tokens per sequence per forward call
  std::int64_t max_logit_rows = 0; // rows of logits one call may ask for
  std::int64_t kv_cache_len = 0;   // > 0: a KV cache of this many positions per sequence
};

class Session {
 public:
  Session(const Model& model, const SessionLimits& limits);

  // Forward of a whole batch with no cache. logits[i, :] (vocab floats) = the model's output at
  // flat position rows[i] = b * len + t, for i < n_rows (n_rows <= max_logit_rows). Rows at
  // padding positions are computed but meaningless.
  void forward(const TokenBatch& batch, const std::int64_t* rows, std::int64_t n_rows,
               float* logits);

  // Incremental forward for generation (causal models with a KV cache): appends `len` new tokens
  // of each of `batch` sequences (no padding) at positions cached_len()... and returns logits of
  // the last new token of each sequence, logits[b, :].
  void forward_cached(const std::int32_t* ids, std::int64_t batch, std::int64_t len,
                      float* logits);
  std::int64_t cached_len() const { return cached_; }
  void reset_cache() { cached_ = 0; }

  const Model& model() const { return model_; }
  const SessionLimits& limits() const { return limits_; }
  // Bytes of the arena and of the KV cache (for peak-memory reports).
  std::size_t arena_bytes() const;
  std::size_t kv_cache_bytes() const;

 private:
  struct Buffers;
  void run(const TokenBatch& batch, const std::int32_t* positions, std::int64_t past,
           bool use_cache, const std::int64_t* rows, std::int64_t n_rows, float* logits);

  const Model& model_;
  SessionLimits limits_;
  std::int64_t cached_ = 0;
  std::vector<float> arena_;
  std::vector<float> kv_;
  std::vector<std::int32_t> positions_;      // per token: real tokens before it, -1 = padding
  std::vector<std::int32_t> position_rows_;  // per token: table row / RoPE position
  std::vector<std::int64_t> row_index_;
  // Views into arena_ (set once in the constructor).
  float* x_ = nullptr;      // residual stream [B*T, hidden]
  float* h_ = nullptr;      // normed input / temporary [B*T, max(hidden, embed_dim)]
  float* qkv_ = nullptr;    // [B*T, (n_heads + 2 n_kv_heads) * head_dim]
  float* attn_ = nullptr;   // [B*T, n_heads * head_dim]
  float* ffn_ = nullptr;    // [B*T, ffn_dim] (x2 for a gated MLP)
  float* rows_ = nullptr;   // gathered rows for the head [R, max(hidden, embed_dim)] x2
};

}  // namespace pocket
