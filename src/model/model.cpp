#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <sys/stat.h>

#include "io/error.h"
#include "io/gguf_config.h"
#include "io/hash.h"
#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/perturb.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"

namespace pocket {

namespace {

bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Model::Model(const std::string& path, bool writable) : path_(path), writable_(writable) {
  if (is_regular_file(path)) {
    if (writable) {
      throw Error(path, "tuning reads a Hugging Face directory; a GGUF base is read-only "
                        "(forward, generate and eval take it)");
    }
    gguf_ = std::make_unique<GgufFile>(path);
    config_ = gguf_model_config(*gguf_);
    gguf_source_ = std::make_unique<GgufSource>(*gguf_, config_.arch);
    weights_ = bind_weights(config_, *gguf_source_);
    gguf_->mapping().advise(MapAdvice::kWillNeed);
  } else {
    config_ = load_model_config(path);
    checkpoint_ = std::make_unique<Checkpoint>(
        path, writable ? MapMode::kCopyOnWrite : MapMode::kReadOnly);
    weights_ = bind_weights(config_, *checkpoint_);
    // Every forward reads every weight: ask the kernel to start reading the files in now
    // (asynchronous readahead; the pages stay clean page cache either way).
    for (const auto& file : checkpoint_->files()) file->mapping().advise(MapAdvice::kWillNeed);
  }
  if (config_.positions == Positions::kRope) {
    rope_ = std::make_unique<RopeTable>(static_cast<int>(config_.head_dim), config_.max_positions,
                                        config_.rope_theta,
                                        config_.rope_interleaved ? RopeLayout::kInterleaved
                                                                 : RopeLayout::kHalf,
                                        config_.rope_scaling);
  }
}

Model::~Model() = default;

const Checkpoint& Model::checkpoint() const {
  if (!checkpoint_) throw Error(path_, "a GGUF model has no safetensors checkpoint");
  return *checkpoint_;
}

Checkpoint& Model::checkpoint() {
  if (!checkpoint_) throw Error(path_, "a GGUF model has no safetensors checkpoint");
  return *checkpoint_;
}

std::uint64_t Model::weight_file_bytes() const {
  if (checkpoint_) return checkpoint_->total_bytes();
  std::uint64_t bytes = 0;
  for (const GgufTensor& t : gguf_->tensors()) bytes += t.nbytes;
  return bytes;
}

std::vector<const MappedFile*> Model::mapped_files() const {
  std::vector<const MappedFile*> files;
  if (gguf_) files.push_back(&gguf_->mapping());
  if (checkpoint_) {
    for (const auto& file : checkpoint_->files()) files.push_back(&file->mapping());
  }
  return files;
}

std::string Model::fingerprint() const {
  return checkpoint_ ? model_fingerprint(*checkpoint_) : gguf_fingerprint(*gguf_);
}

MutableWeightView Model::mutable_view(const Param& p) {
  if (p.kind == ParamKind::kAdapter) {  // the model's own memory (attach_lora), never the mapping
    const WeightView& v = p.view;
    return {v.format, const_cast<void*>(v.data), nullptr, v.rows, v.cols, v.stride};
  }
  if (!writable_) throw Error(path_, "model opened read-only, tensor " + p.name + " cannot be written");
  const WeightView& v = p.view;
  return {v.format, checkpoint_->mutable_data(p.name), nullptr, v.rows, v.cols, v.stride};
}

namespace {

// Module name of a Linear: its weight's checkpoint name without ".weight".
std::string module_name(const Linear& l) {
  const std::string& name = l.weight->name;
  return name.substr(0, name.size() - (name.ends_with(".weight") ? 7 : 0));
}

template <class F>
void for_each_layer_linear(ModelWeights& w, F&& f) {
  for (LayerWeights& L : w.layers) {
    for (Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
      if (*l) f(*l);
    }
  }
}

}  // namespace

void Model::attach_lora(const LoraOptions& options, std::uint64_t seed) {
  if (has_lora()) throw Error("--lora", path_ + ": adapters are attached already");
  if (options.rank < 1 || options.rank > 4096) throw Error("--lora", "the rank must be 1 to 4096");
  if (!(options.alpha > 0.0) || !std::isfinite(options.alpha)) {
    throw Error("--lora-alpha", "must be a positive number");
  }
  const std::vector<std::string> targets = lora_targets(options, config_.arch);
  auto targeted = [&](const std::string& module) {
    for (const std::string& t : targets) {
      if (lora_target_matches(module, t)) return true;
    }
    return false;
  };
  // Every target is checked before anything is added, so an error leaves the model unchanged.
  for (const std::string& t : targets) {
    bool found = false;
    for_each_layer_linear(weights_, [&](Linear& l) {
      found = found || lora_target_matches(module_name(l), t);
    });
    if (!found) throw Error("--lora-targets", "'" + t + "' names no linear layer of " + path_);
  }
  const std::int64_t r = options.rank;
  const float scale = static_cast<float>(options.alpha / static_cast<double>(r));
  for_each_layer_linear(weights_, [&](Linear& l) {
    const std::string module = module_name(l);
    if (!targeted(module)) return;
    const std::int64_t in = l.in(), out = l.out();
    Param& a = weights_.params.add(lora_param_name(module, 'A'), {r, in}, ParamKind::kAdapter);
    std::vector<float>& a_data = adapters_.emplace_back(static_cast<std::size_t>(r * in));
    lora_init_a(a_data.data(), r * in, in, seed, a.pid);
    a.view = {WeightFormat::kF32, a_data.data(), nullptr, r, in, in};
    Param& b = weights_.params.add(lora_param_name(module, 'B'), {out, r}, ParamKind::kAdapter);
    std::vector<float>& b_data = adapters_.emplace_back(static_cast<std::size_t>(out * r), 0.0f);
    b.view = {WeightFormat::kF32, b_data.data(), nullptr, out, r, r};
    l.lora_a = &a;
    l.lora_b = &b;
    l.lora_scale = scale;
  });
  lora_ = options;
  lora_.targets = targets;
}

std::int64_t Model::adapter_bytes() const {
  std::int64_t bytes = 0;
  for (const std::vector<float>& a : adapters_) {
    bytes += static_cast<std::int64_t>(a.size() * sizeof(float));
  }
  return bytes;
}

Perturbation Perturbation::pair(std::uint64_t seed, float eps) {
  Perturbation p;
  p.streams = 2;
  p.seed[0] = p.seed[1] = seed;
  p.scale[0] = eps;
  p.scale[1] = -eps;
  return p;
}

namespace {

std::int64_t qkv_width(const ModelConfig& c) { return (c.n_heads + 2 * c.n_kv_heads) * c.head_dim; }
std::int64_t widest(const ModelConfig& c) { return std::max(c.hidden, c.embed_dim); }

void activate(Activation a, float* x, std::int64_t n, ThreadPool& pool) {
  switch (a) {
    case Activation::kRelu: relu(x, x, n, pool); break;
    case Activation::kGelu: gelu(x, x, n, pool); break;
    case Activation::kGeluTanh: gelu_tanh(x, x, n, pool); break;
    case Activation::kSilu: silu(x, x, n, pool); break;
  }
}

// Llama's gated MLP input: gate[r, :] = silu(gate[r, :]) * up[r, :] over rows of [gate | up].
void swiglu_rows(float* gate_up, std::int64_t rows, std::int64_t F, ThreadPool& pool) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* g = gate_up + r * 2 * F;
    const float* u = g + F;
    silu(g, g, F, pool);
    for (std::int64_t i = 0; i < F; ++i) g[i] *= u[i];
  }
}

}  // namespace


Session::Session(const Model& model, const SessionLimits& limits, ThreadPool& pool)
    : model_(model), limits_(limits), pool_(pool) {
  const ModelConfig& c = model.config();
  if (limits.max_batch < 1 || limits.max_len < 1 || limits.max_logit_rows < 0 ||
      limits.kv_cache_len < 0 || limits.logit_chunk_rows < 0) {
    throw Error("session", "batch, length and logit rows must be positive");
  }
  if (limits.streams < 1 || limits.streams > kMaxStreams) {
    throw Error("session", "streams must be 1 to " + std::to_string(kMaxStreams));
  }
  if (limits.kv_cache_len > 0 && !c.causal) {
    throw Error("session", std::string(arch_name(c.arch)) + " is not causal: no KV cache");
  }
  if (limits.kv_cache_len > 0 && limits.streams != 1) {
    throw Error("session", "a KV cache is for one stream (generation)");
  }
  const std::int64_t n = limits.max_batch * limits.max_len;
  const std::int64_t attn_width = std::max(c.n_heads * c.head_dim, c.hidden);
  const std::int64_t ffn_width = c.ffn_dim * (c.gated_mlp ? 2 : 1);
  const std::int64_t head_rows = std::max(limits.max_logit_rows, limits.logit_chunk_rows);
  const std::int64_t small =
      limits.streams >= 2 ? static_cast<std::int64_t>(model.params().vectors().size()) : 0;
  // Per stream: x, h (= attn), qkv (= ffn), rows_a, rows_b, logits, small, lora. Two pairs share
  // memory because their lives never overlap within a layer: h (the normed input) is dead once
  // q, k, v are computed, when attention writes attn; qkv is dead once attention has read it,
  // before the MLP writes ffn. This takes the arena from 10d to 6d floats per token for OPT-125m.
  const std::int64_t sizes[] = {n * c.hidden,
                                n * std::max(widest(c), attn_width),
                                n * std::max(qkv_width(c), ffn_width),
                                head_rows * widest(c),
                                head_rows * widest(c),
                                limits.logit_chunk_rows * c.vocab_size,
                                small,
                                n * model.lora().rank};
  std::int64_t total = 0;
  for (std::int64_t size : sizes) total += size;
  arena_.assign(static_cast<std::size_t>(total * limits.streams), 0.0f);
  float* p = arena_.data();
  streams_.resize(static_cast<std::size_t>(limits.streams));
  for (int s = 0; s < limits.streams; ++s) {
    Stream& st = streams_[s];
    float** views[] = {&st.x,      &st.h,      &st.qkv,   &st.rows_a,
                       &st.rows_b, &st.logits, &st.small, &st.lora};
    for (int i = 0; i < 8; ++i) {
      *views[i] = p;
      p += sizes[i];
    }
    st.attn = st.h;
    st.ffn = st.qkv;
  }
  if (limits.kv_cache_len > 0) {
    kv_.assign(static_cast<std::size_t>(2 * c.n_layers * limits.max_batch * limits.kv_cache_len *
                                        c.n_kv_heads * c.head_dim),
               0.0f);
  }
  positions_.resize(static_cast<std::size_t>(n));
  position_rows_.resize(static_cast<std::size_t>(n));
  row_index_.resize(static_cast<std::size_t>(limits.max_batch));
  // Packing panels for the largest GEMM, reserved now so that a forward never allocates.
  const std::int64_t max_k =
      std::max({widest(c), c.ffn_dim, c.n_heads * c.head_dim, model.lora().rank});
  pool_.reserve_scratch(gemm_scratch_bytes(
      gemm_kernel_native(), std::max(n, head_rows), max_k, limits.streams));
}

std::size_t Session::arena_bytes() const { return arena_.size() * sizeof(float); }
std::size_t Session::kv_cache_bytes() const { return kv_.size() * sizeof(float); }

void Session::check_batch(const TokenBatch& batch) const {
  if (batch.batch < 1 || batch.batch > limits_.max_batch || batch.len < 1 ||
      batch.len > limits_.max_len) {
    throw Error("forward", "batch of " + std::to_string(batch.batch) + " x " +
                               std::to_string(batch.len) + " tokens exceeds the session's " +
                               std::to_string(limits_.max_batch) + " x " +
                               std::to_string(limits_.max_len));
  }
  const std::int64_t vocab = model_.config().vocab_size;
  for (std::int64_t i = 0; i < batch.batch * batch.len; ++i) {
    if (batch.ids[i] < 0 || batch.ids[i] >= vocab) {
      throw Error("forward", "token id " + std::to_string(batch.ids[i]) + " is not below " +
                                 "vocab_size " + std::to_string(vocab));
    }
  }
}

// Position of each token = real tokens before it in its sequence; -1 marks padding.
void Session::set_positions(const TokenBatch& batch) {
  for (std::int64_t b = 0; b < batch.batch; ++b) {
    std::int32_t count = 0;
    for (std::int64_t t = 0; t < batch.len; ++t) {
      const std::int64_t i = b * batch.len + t;
      const bool real = batch.mask == nullptr || batch.mask[i] != 0;
      positions_[static_cast<std::size_t>(i)] = real ? count++ : -1;
    }
  }
}

void Session::forward(const TokenBatch& batch, const std::int64_t* rows, std::int64_t n_rows,
                      float* logits) {
  check_batch(batch);
  if (n_rows < 0 || n_rows > limits_.max_logit_rows) {
    throw Error("forward", std::to_string(n_rows) + " rows of logits asked, the session holds " +
                               std::to_string(limits_.max_logit_rows));
  }
  for (std::int64_t i = 0; i < n_rows; ++i) {
    if (rows[i] < 0 || rows[i] >= batch.batch * batch.len) {
      throw Error("forward", "logit row out of the batch");
    }
  }
  active_ = 1;
  perturbation_ = nullptr;
  set_positions(batch);
  run_body(batch, positions_.data(), 0, /*use_cache=*/false);
  if (n_rows > 0) run_head(rows, n_rows, &logits);
}

void Session::forward_chunks(const TokenBatch& batch, const std::int64_t* rows,
                             std::int64_t n_rows, LogitSink& sink,
                             const Perturbation* perturbation) {
  check_batch(batch);
  if (limits_.logit_chunk_rows < 1) throw Error("forward", "the session has no logit chunks");
  if (perturbation != nullptr && (limits_.streams < 2 || perturbation->streams < 1 ||
                                  perturbation->streams > limits_.streams)) {
    throw Error("forward", "a perturbation of " + std::to_string(perturbation->streams) +
                               " streams in a session of " + std::to_string(limits_.streams) +
                               " (perturbed forwards need a session of 2 or more)");
  }
  if (perturbation != nullptr && observer_ != nullptr) {
    throw Error("forward", "a layer observer sees one-stream forwards only");
  }
  for (std::int64_t i = 0; i < n_rows; ++i) {
    if (rows[i] < 0 || rows[i] >= batch.batch * batch.len) {
      throw Error("forward", "logit row out of the batch");
    }
  }
  active_ = perturbation != nullptr ? perturbation->streams : 1;
  perturbation_ = perturbation;
  if (perturbation != nullptr) {
    // Biases and norm weights: one perturbed fp32 copy per stream, z over each tensor's elements.
    const ParamTable& params = model_.params();
    for (const Param& p : params) {
      if (p.kind != ParamKind::kVector) continue;
      const WeightPerturbation z = this->perturbation(p);
      const std::int64_t offset = params.vector_offset(p);
      for (int s = 0; s < active_; ++s) {
        perturb_copy(p.f32, streams_[s].small + offset, static_cast<std::size_t>(p.numel),
                     z.key[s], z.scale[s], 0, pool_);
      }
    }
  }
  set_positions(batch);
  run_body(batch, positions_.data(), 0, /*use_cache=*/false);
  float* out[kMaxStreams] = {};
  for (int s = 0; s < active_; ++s) out[s] = streams_[s].logits;
  for (std::int64_t first = 0; first < n_rows; first += limits_.logit_chunk_rows) {
    const std::int64_t count = std::min(limits_.logit_chunk_rows, n_rows - first);
    run_head(rows + first, count, out);
    for (int s = 0; s < active_; ++s) sink.consume(s, first, count, out[s]);
  }
  perturbation_ = nullptr;
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
  check_batch(tb);
  active_ = 1;
  perturbation_ = nullptr;
  run_body(tb, positions_.data(), cached_, /*use_cache=*/true);
  run_head(row_index_.data(), batch, &logits);
  cached_ += len;
}

// What each stream of the current perturbed call reads for parameter p: scale 0 when frozen.
WeightPerturbation Session::perturbation(const Param& p) const {
  WeightPerturbation z;
  z.streams = active_;
  for (int s = 0; s < active_; ++s) {
    z.key[s] = z_key(perturbation_->seed[s], p.pid);
    z.scale[s] = p.trainable ? perturbation_->scale[s] : 0.0f;
  }
  return z;
}

const float* Session::vec(int s, const Param* p) const {
  if (p == nullptr) return nullptr;
  if (perturbation_ == nullptr) return p->f32;
  return streams_[s].small + model_.params().vector_offset(*p);
}

// y_s[M, l.out] (row stride ldy) = x_s[M, l.in] (row stride ldx) · (W ± εz)ᵀ + b_s (+ y_s)
void Session::linear(const Linear& l, std::int64_t M, Buf x, std::int64_t x_off, std::int64_t ldx,
                     Buf y, std::int64_t y_off, std::int64_t ldy, bool accumulate) {
  GemmOptions options;
  options.accumulate = accumulate;
  options.pool = &pool_;
  GemmStream streams[kMaxStreams];
  for (int s = 0; s < active_; ++s) {
    streams[s] = {streams_[s].*x + x_off, streams_[s].*y + y_off, vec(s, l.bias)};
  }
  if (perturbation_ == nullptr) {
    gemm(M, l.weight->view, active_, streams, ldx, ldy, options);
  } else {
    const WeightPerturbation z = perturbation(*l.weight);
    gemm(M, l.weight->view, active_, streams, ldx, ldy, options, &z);
  }
  if (l.lora_a != nullptr) lora(l, M, x, x_off, ldx, y, y_off, ldy);
}

// y_s += (α/r)·(x_s·A_sᵀ)·B_sᵀ, A_s and B_s the adapters as stream s reads them (± εz when
// trainable), in this fp32 order (src/zo/README.md): t = x·Aᵀ into the arena's [M, r] block, then
// t[i] *= α/r, then y += t·Bᵀ. Two GEMMs with no bias over the same rows; no [M, out] temporary.
void Session::lora(const Linear& l, std::int64_t M, Buf x, std::int64_t x_off, std::int64_t ldx,
                   Buf y, std::int64_t y_off, std::int64_t ldy) {
  const std::int64_t r = l.lora_a->view.rows;
  GemmOptions options;
  options.pool = &pool_;
  GemmStream streams[kMaxStreams];
  WeightPerturbation za, zb;
  if (perturbation_ != nullptr) {
    za = perturbation(*l.lora_a);
    zb = perturbation(*l.lora_b);
  }
  const WeightPerturbation* pa = perturbation_ != nullptr ? &za : nullptr;
  const WeightPerturbation* pb = perturbation_ != nullptr ? &zb : nullptr;
  for (int s = 0; s < active_; ++s) {
    streams[s] = {streams_[s].*x + x_off, streams_[s].lora, nullptr};
  }
  gemm(M, l.lora_a->view, active_, streams, ldx, r, options, pa);
  for (int s = 0; s < active_; ++s) {
    float* t = streams_[s].lora;
    for (std::int64_t i = 0; i < M * r; ++i) t[i] *= l.lora_scale;
  }
  options.accumulate = true;
  for (int s = 0; s < active_; ++s) {
    streams[s] = {streams_[s].lora, streams_[s].*y + y_off, nullptr};
  }
  gemm(M, l.lora_b->view, active_, streams, r, ldy, options, pb);
}

void Session::norm(const NormWeights& w, Buf x, Buf out, std::int64_t rows, std::int64_t width) {
  const ModelConfig& c = model_.config();
  for (int s = 0; s < active_; ++s) {
    if (c.norm == Norm::kRmsNorm) {
      rmsnorm(streams_[s].*x, streams_[s].*out, rows, width, vec(s, w.weight), c.norm_eps,
              pool_);
    } else {
      layernorm(streams_[s].*x, streams_[s].*out, rows, width, vec(s, w.weight), vec(s, w.bias),
                c.norm_eps, pool_);
    }
  }
}

// out[i, :] = rows ids[i] of `table` (+ addend[i, :]) for stream s: perturbed as they are
// gathered under a perturbation (row r takes z[r·stride + j]). Any table format: F16, F32 or a
// block format, decoded row by row.
void Session::gather(int s, const Param& table, const std::int32_t* ids, std::int64_t n,
                     const float* addend, float* out) const {
  if (perturbation_ == nullptr) {
    embedding_gather(table.view, ids, n, addend, out, pool_);
  } else {
    const WeightPerturbation z = perturbation(table);
    embedding_gather_perturbed(table.view, ids, n, addend, out, z.key[s], z.scale[s], 0, pool_);
  }
}

// Embeddings: x = tokens (·project_in) (+ learned positions, + token type 0, LayerNorm).
void Session::embed(const TokenBatch& batch, const std::int32_t* pos, std::int64_t past) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const std::int64_t n = batch.batch * batch.len, d = c.hidden;
  if (c.positions == Positions::kRope) {  // positions enter in the layers
    const std::int64_t last = past + batch.len - 1;
    if (last >= c.max_positions) {
      throw Error("forward", "position " + std::to_string(last) +
                                 " is past max_position_embeddings " +
                                 std::to_string(c.max_positions));
    }
    for (int s = 0; s < active_; ++s) gather(s, *w.token_embed, batch.ids, n, nullptr, streams_[s].x);
    return;
  }
  // Learned position table rows: position_first_row + position, padding -> position_pad_row
  // (OPT: position + 2, padding 1, as HF's cumsum(mask)·mask − 1 + 2; RoBERTa: padding_idx + 1 +
  // position, padding padding_idx).
  std::int32_t* table_rows = position_rows_.data();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t p = pos[i];
    const std::int64_t r = p < 0 ? c.position_pad_row : c.position_first_row + p;
    if (r >= c.position_rows) {
      throw Error("forward", "sequence longer than max_position_embeddings " +
                                 std::to_string(c.max_positions));
    }
    table_rows[i] = static_cast<std::int32_t>(r);
  }
  // The position rows go to ffn (free during the embeddings; at least d wide): h holds the token
  // rows of a model with project_in.
  for (int s = 0; s < active_; ++s) {
    Stream& st = streams_[s];
    gather(s, *w.position_embed, table_rows, n, nullptr, st.ffn);
    if (w.token_type0 != nullptr) {
      const float* type0 = vec(s, w.token_type0);
      for (std::int64_t i = 0; i < n; ++i) residual_add(st.ffn + i * d, type0, d, pool_);
    }
    if (!w.project_in) {
      gather(s, *w.token_embed, batch.ids, n, st.ffn, st.x);
    } else {
      gather(s, *w.token_embed, batch.ids, n, nullptr, st.h);
    }
  }
  if (w.project_in) {
    linear(w.project_in, n, &Stream::h, 0, c.embed_dim, &Stream::x, 0, d);
    for (int s = 0; s < active_; ++s) residual_add(streams_[s].x, streams_[s].ffn, n * d, pool_);
  }
  if (w.embed_norm.weight != nullptr) norm(w.embed_norm, &Stream::x, &Stream::x, n, d);
}

// The layers. Activations are rows of one token each, n = B·T of them; `pos` holds each token's
// position (-1: padding). With use_cache, the new keys/values go into the KV cache after the
// `past` positions already there and attention reads the cache; otherwise it reads qkv.
void Session::run_body(const TokenBatch& batch, const std::int32_t* pos, std::int64_t past,
                       bool use_cache) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const std::int64_t B = batch.batch, T = batch.len, n = B * T;
  const std::int64_t d = c.hidden, F = c.ffn_dim;
  const std::int64_t Q = c.n_heads * c.head_dim, KV = c.n_kv_heads * c.head_dim;
  const std::int64_t QKV = qkv_width(c);

  embed(batch, pos, past);
  if (observer_ != nullptr) observer_->after_layer(0, streams_[0].x, n, d);

  // Attention geometry: queries from qkv, keys/values from qkv or from the cache.
  AttentionShape shape;
  shape.batch = B;
  shape.q_len = T;
  shape.n_heads = static_cast<int>(c.n_heads);
  shape.n_heads_kv = static_cast<int>(c.n_kv_heads);
  shape.head_dim = static_cast<int>(c.head_dim);
  shape.causal = c.causal;
  shape.q_stride = QKV;
  shape.out_stride = Q;
  const std::int64_t S = limits_.kv_cache_len;
  const Buf in = c.pre_norm ? &Stream::h : &Stream::x;

  for (std::int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& L = w.layers[static_cast<std::size_t>(li)];
    // Attention block.
    if (c.pre_norm) norm(L.attn_norm, &Stream::x, &Stream::h, n, d);
    linear(L.q, n, in, 0, d, &Stream::qkv, 0, QKV);
    linear(L.k, n, in, 0, d, &Stream::qkv, Q, QKV);
    linear(L.v, n, in, 0, d, &Stream::qkv, Q + KV, QKV);
    if (c.positions == Positions::kRope) {
      // Padding rows take position 0: their outputs are never read.
      std::int32_t* rp = position_rows_.data();
      for (std::int64_t i = 0; i < n; ++i) rp[i] = std::max(pos[i], 0);
      for (int s = 0; s < active_; ++s) {
        rope(streams_[s].qkv, n, static_cast<int>(c.n_heads), QKV, rp, *model_.rope(), pool_);
        rope(streams_[s].qkv + Q, n, static_cast<int>(c.n_kv_heads), QKV, rp, *model_.rope(),
             pool_);
      }
    }
    for (int s = 0; s < active_; ++s) {
      float* qkv = streams_[s].qkv;
      if (use_cache) {
        float* k_cache = kv_.data() + (2 * li) * limits_.max_batch * S * KV;
        float* v_cache = k_cache + limits_.max_batch * S * KV;
        for (std::int64_t b = 0; b < B; ++b) {
          for (std::int64_t t = 0; t < T; ++t) {
            const float* row = qkv + (b * T + t) * QKV;
            std::memcpy(k_cache + (b * S + past + t) * KV, row + Q, sizeof(float) * KV);
            std::memcpy(v_cache + (b * S + past + t) * KV, row + Q + KV, sizeof(float) * KV);
          }
        }
        shape.kv_len = past + T;
        shape.kv_stride = KV;
        shape.kv_batch_stride = S * KV;
        attention(qkv, k_cache, v_cache, nullptr, streams_[s].attn, shape, pool_);
      } else {
        shape.kv_len = T;
        shape.kv_stride = QKV;
        shape.kv_batch_stride = T * QKV;
        attention(qkv, qkv + Q, qkv + Q + KV, batch.mask, streams_[s].attn, shape, pool_);
      }
    }
    linear(L.o, n, &Stream::attn, 0, Q, &Stream::x, 0, d, /*accumulate=*/true);
    if (!c.pre_norm) norm(L.attn_norm, &Stream::x, &Stream::x, n, d);

    // MLP block.
    if (c.pre_norm) norm(L.mlp_norm, &Stream::x, &Stream::h, n, d);
    if (c.gated_mlp) {
      linear(L.gate, n, in, 0, d, &Stream::ffn, 0, 2 * F);
      linear(L.up, n, in, 0, d, &Stream::ffn, F, 2 * F);
      for (int s = 0; s < active_; ++s) swiglu_rows(streams_[s].ffn, n, F, pool_);
      linear(L.down, n, &Stream::ffn, 0, 2 * F, &Stream::x, 0, d, /*accumulate=*/true);
    } else {
      linear(L.up, n, in, 0, d, &Stream::ffn, 0, F);
      for (int s = 0; s < active_; ++s) activate(c.activation, streams_[s].ffn, n * F, pool_);
      linear(L.down, n, &Stream::ffn, 0, F, &Stream::x, 0, d, /*accumulate=*/true);
    }
    if (!c.pre_norm) norm(L.mlp_norm, &Stream::x, &Stream::x, n, d);
    if (observer_ != nullptr) observer_->after_layer(li + 1, streams_[0].x, n, d);
  }
}

// Head, only at the rows asked for: gather, final norm, projections, vocabulary GEMM.
void Session::run_head(const std::int64_t* rows, std::int64_t count, float* const* out) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const std::int64_t d = c.hidden, E = c.embed_dim;
  Buf a = &Stream::rows_a, b = &Stream::rows_b;
  for (int s = 0; s < active_; ++s) {
    for (std::int64_t i = 0; i < count; ++i) {
      std::memcpy(streams_[s].*a + i * d, streams_[s].x + rows[i] * d, sizeof(float) * d);
    }
  }
  if (c.final_norm) norm(w.final_norm, a, a, count, d);
  if (w.project_out) {
    linear(w.project_out, count, a, 0, d, b, 0, E);
    std::swap(a, b);
  }
  if (c.head == Head::kMlm) {
    linear(w.mlm_dense, count, a, 0, d, b, 0, d);
    for (int s = 0; s < active_; ++s) {
      float* y = streams_[s].*b;
      gelu(y, y, count * d, pool_);
      layernorm(y, y, count, d, vec(s, w.mlm_norm.weight), vec(s, w.mlm_norm.bias), c.norm_eps,
                pool_);
    }
    std::swap(a, b);
  }
  // The vocabulary GEMM writes straight into the caller's buffers.
  for (int s = 0; s < active_; ++s) streams_[s].head_out = out[s];
  linear(w.head, count, a, 0, E, &Stream::head_out, 0, c.vocab_size);
}

}  // namespace pocket
