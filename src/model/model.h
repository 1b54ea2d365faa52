// A transformer over a memory-mapped Hugging Face checkpoint or GGUF file: OPT, RoBERTa and the
// Llama family in one forward pass built only from src/kernels.
//
//   Model    the config, the mapped checkpoint and every weight bound by name into the parameter
//            table (params.h, model_weights.h). Matrices stay fp16 in the mapping; the small
//            vectors (biases, norm weights) are converted to fp32 once at load, a few hundred KB
//            even for 1B models.
//   Session  a Model plus every buffer a forward needs, sized once from SessionLimits (the arena)
//            and an optional KV cache. forward() allocates nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "kernels/gemm.h"
#include "kernels/rope.h"
#include "io/gguf.h"
#include "model/gguf_source.h"
#include "model/lora.h"
#include "model/model_weights.h"

namespace pocket {

class Model {
 public:
  // Loads a model from `path`: a Hugging Face directory (config.json and the safetensors
  // checkpoint, F16) or a GGUF file (hyper-parameters from its keys, io/gguf_config.h; tensors
  // under llama.cpp's names in F32/F16/BF16 or a block format, model/gguf_source.h). Binds every
  // tensor the architecture needs and rejects anything missing or mis-shaped with a one-line
  // pocket::Error naming the file and the tensor. writable: map the checkpoint copy-on-write (a
  // tuning run), so that mutable_view() can update weights in place in this process's memory; the
  // files are never written. A GGUF model is read-only.
  explicit Model(const std::string& path, bool writable = false);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  // The safetensors checkpoint of a directory model; throws pocket::Error for a GGUF model.
  const Checkpoint& checkpoint() const;
  Checkpoint& checkpoint();
  bool is_gguf() const { return gguf_ != nullptr; }
  const GgufFile* gguf() const { return gguf_.get(); }  // null for a directory model
  const RopeTable* rope() const { return rope_.get(); }  // Llama only
  const std::string& path() const { return path_; }      // the directory or the .gguf file
  bool writable() const { return writable_; }
  // Bytes of the stored tensors (the mapped weights a forward reads).
  std::uint64_t weight_file_bytes() const;
  // The files the weights are mapped from.
  std::vector<const MappedFile*> mapped_files() const;
  // 64-bit hash (hex) over every stored tensor: names, types, shapes and bytes (io/hash.h).
  std::string fingerprint() const;

  // Every tensor the forward reads (params.h). Its trainable flags say what a perturbed forward
  // perturbs (ParamTable::set_trainable); refresh_vector() after an update of a vector.
  const ParamTable& params() const { return weights_.params; }
  ParamTable& params() { return weights_.params; }
  // The stored elements of `p` in a writable model's copy-on-write mapping; throws for a
  // read-only model. An adapter's elements are the model's own (writable in any model).
  MutableWeightView mutable_view(const Param& p);

  // Adds LoRA adapters (model/lora.h) to every Linear of the layers whose module name matches
  // one of the targets: A initialised from `seed`, B = 0, both Params of kind kAdapter appended
  // to the table, trainable. Call once, before any Session is made over the model. An option out
  // of range or a target that matches no Linear is a pocket::Error naming its flag.
  void attach_lora(const LoraOptions& options, std::uint64_t seed);
  bool has_lora() const { return lora_.rank > 0; }
  const LoraOptions& lora() const { return lora_; }       // targets as resolved by attach_lora
  std::int64_t adapter_bytes() const;                     // bytes of the adapters (fp32)

 private:
  std::string path_;
  bool writable_ = false;
  std::unique_ptr<Checkpoint> checkpoint_;  // a directory model
  std::unique_ptr<GgufFile> gguf_;          // a GGUF model, and where binding found its tensors
  std::unique_ptr<GgufSource> gguf_source_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<RopeTable> rope_;
  LoraOptions lora_;
  std::deque<std::vector<float>> adapters_;  // the adapters' elements, one vector per Param
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
  // (0 for a plain forward; stream s of a perturbed one: Perturbation's scale[s], seed[s]).
  virtual void consume(int stream, std::int64_t first, std::int64_t count, const float* logits) = 0;
};

// Sees the residual stream of a one-stream forward after the embeddings (layer 0) and after each
// layer ℓ = 1..n_layers: x is [rows, width] (rows = B·T of the call, width = hidden), row b·T + t
// for token t of sequence b. These are the hidden states side tuning ships to its server
// (src/side/); at layer n_layers the observer may rewrite x in place, and the head reads the result
// (a side network's output on the device). Called on the forward's thread; must not allocate if
// the forward is to stay allocation-free.
class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  virtual void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) = 0;
};

struct SessionLimits {
  std::int64_t max_batch = 1;
  std::int64_t max_len = 0;        // tokens per sequence per forward call
  std::int64_t max_logit_rows = 0; // rows of logits one call may ask for
  std::int64_t kv_cache_len = 0;   // > 0: a KV cache of this many positions per sequence
  // Streams one forward may run, up to kMaxStreams; two or more also make room for perturbed
  // forwards (the per-stream fp32 copies of the vectors): 2 for MeZO's ±εz pair.
  int streams = 1;
  std::int64_t logit_chunk_rows = 0;  // > 0: forward_chunks() runs the head this many rows at a time
};

// The perturbed copies of the model one forward evaluates, built once per ZO step: stream s
// reads every trainable parameter P as P + scale[s]·z, z = z(seed[s], P.pid) (kernels/zrng.h;
// DESIGN.md, src/zo/README.md), and every frozen one as P. Streams with the same seed share one
// generation of z (a ± pair costs one). S = 2q for q directions.
struct Perturbation {
  int streams = 0;
  std::uint64_t seed[kMaxStreams] = {};
  float scale[kMaxStreams] = {};
  // MeZO's pair: stream 0 reads P + eps·z, stream 1 P − eps·z, one seed.
  static Perturbation pair(std::uint64_t seed, float eps);
};

class Session {
 public:
  // Every kernel of the session runs on `pool` (its threads and their GEMM scratch): the
  // execution context is passed down, so two sessions may run on two pools of their own.
  Session(const Model& model, const SessionLimits& limits, ThreadPool& pool = default_pool());

  // Forward of a whole batch with no cache. logits[i, :] (vocab floats) = the model's output at
  // flat position rows[i] = b * len + t, for i < n_rows (n_rows <= max_logit_rows). Rows at
  // padding positions are computed but meaningless.
  void forward(const TokenBatch& batch, const std::int64_t* rows, std::int64_t n_rows,
               float* logits);

  // Forward of a whole batch with the logits of rows[0..n_rows) (any number up to B·T) delivered
  // to `sink` in chunks of limits.logit_chunk_rows rows, in row order. With a perturbation of
  // S streams (S <= limits.streams, and the session has two or more) the streams run in lock
  // step over one read of each weight, and the sink gets every chunk of stream 0, then of stream
  // 1, ...; without, one unperturbed stream (0). Which parameters are perturbed: the model's
  // trainable ones (ParamTable::set_trainable).
  void forward_chunks(const TokenBatch& batch, const std::int64_t* rows, std::int64_t n_rows,
                      LogitSink& sink, const Perturbation* perturbation = nullptr);
  // Every later one-stream forward reports its hidden states to `observer` (nullptr: none). A
  // two-stream (perturbed) forward with an observer set is an error.
  void set_observer(LayerObserver* observer) { observer_ = observer; }

  // Incremental forward for generation (causal models with a KV cache): appends `len` new tokens
  // of each of `batch` sequences (no padding) at positions cached_len()... and returns logits of
  // the last new token of each sequence, logits[b, :].
  void forward_cached(const std::int32_t* ids, std::int64_t batch, std::int64_t len,
                      float* logits);
  std::int64_t cached_len() const { return cached_; }
  void reset_cache() { cached_ = 0; }

  const Model& model() const { return model_; }
  const SessionLimits& limits() const { return limits_; }
  ThreadPool& pool() const { return pool_; }
  // Bytes of the arena and of the KV cache (for peak-memory reports).
  std::size_t arena_bytes() const;
  std::size_t kv_cache_bytes() const;

 private:
  // The activations of one stream (views into arena_, set once in the constructor).
  struct Stream {
    float* x = nullptr;      // residual stream [B*T, hidden]
    float* h = nullptr;      // normed input / temporary [B*T, max(hidden, embed_dim)]
    float* qkv = nullptr;    // [B*T, (n_heads + 2 n_kv_heads) * head_dim]
    float* attn = nullptr;   // [B*T, n_heads * head_dim]: the memory of h
    float* ffn = nullptr;    // [B*T, ffn_dim] (x2 for a gated MLP): the memory of qkv
    float* rows_a = nullptr; // gathered rows for the head [R, max(hidden, embed_dim)]
    float* rows_b = nullptr; // the same, second buffer
    float* logits = nullptr; // [logit_chunk_rows, vocab]
    float* small = nullptr;  // perturbed copy of ParamTable::vectors() (perturbable sessions)
    float* lora = nullptr;   // LoRA's x·Aᵀ [B*T, r] (models with adapters)
    float* head_out = nullptr;  // where run_head's vocabulary GEMM writes (not in the arena)
  };
  using Buf = float* Stream::*;

  void check_batch(const TokenBatch& batch) const;
  void set_positions(const TokenBatch& batch);
  void run_body(const TokenBatch& batch, const std::int32_t* positions, std::int64_t past,
                bool use_cache);
  // The head over rows[0..count) of the body's output: logits [count, vocab] of each stream into
  // out[s] (row stride vocab).
  void run_head(const std::int64_t* rows, std::int64_t count, float* const* out);
  void embed(const TokenBatch& batch, const std::int32_t* pos, std::int64_t past);
  void linear(const Linear& l, std::int64_t M, Buf x, std::int64_t x_off, std::int64_t ldx, Buf y,
              std::int64_t y_off, std::int64_t ldy, bool accumulate = false);
  void lora(const Linear& l, std::int64_t M, Buf x, std::int64_t x_off, std::int64_t ldx, Buf y,
            std::int64_t y_off, std::int64_t ldy);
  void norm(const NormWeights& w, Buf x, Buf out, std::int64_t rows, std::int64_t width);
  void gather(int s, const Param& table, const std::int32_t* ids, std::int64_t n,
              const float* addend, float* out) const;
  const float* vec(int s, const Param* p) const;  // stream s's fp32 copy of vector p (or null)
  WeightPerturbation perturbation(const Param& p) const;

  const Model& model_;
  SessionLimits limits_;
  ThreadPool& pool_;
  std::int64_t cached_ = 0;
  int active_ = 1;  // streams in the current call
  const Perturbation* perturbation_ = nullptr;
  LayerObserver* observer_ = nullptr;
  std::vector<float> arena_;
  std::vector<float> kv_;
  std::vector<std::int32_t> positions_;      // per token: real tokens before it, -1 = padding
  std::vector<std::int32_t> position_rows_;  // per token: table row / RoPE position
  std::vector<std::int64_t> row_index_;
  std::vector<Stream> streams_;  // limits.streams of them
};

}  // namespace pocket
