#include "io/gguf_config.h"

#include <cstdint>
#include <string>

#include "io/error.h"

namespace pocket {
namespace {

constexpr std::int64_t kMaxDim = std::int64_t{1} << 20;

class Keys {
 public:
  Keys(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::string key(const char* name) const { return arch_ + "." + name; }
  bool has(const char* name) const { return file_.find(key(name)) != nullptr; }

  std::int64_t integer(const char* name, std::int64_t min, std::int64_t max) const {
    const std::string k = key(name);
    const auto v = file_.get_integer<std::int64_t>(k);
    if (v < min || v > max) {
      fail(k, "= " + std::to_string(v) + " is outside [" + std::to_string(min) + ", " +
                  std::to_string(max) + "]");
    }
    return v;
  }
  std::int64_t integer_or(const char* name, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) const {
    return has(name) ? integer(name, min, max) : fallback;
  }
  double number_or(const char* name, double fallback, double min, double max) const {
    if (!has(name)) return fallback;
    const std::string k = key(name);
    const double v = file_.get_float(k);
    if (!(v >= min && v <= max)) fail(k, "= " + std::to_string(v) + " is out of range");
    return v;
  }
  [[noreturn]] void fail(const std::string& k, const std::string& what) const {
    throw Error(file_.path() + ": key '" + k + "'", what);
  }

 private:
  const GgufFile& file_;
  std::string arch_;
};

std::int32_t token_id_or(const GgufFile& file, const char* key, std::int32_t fallback,
                         std::int64_t vocab) {
  if (file.find(key) == nullptr) return fallback;
  const auto id = file.get_integer<std::int64_t>(key);
  if (id < 0 || id >= vocab) {
    throw Error(file.path() + ": key '" + key + "'",
                "token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(vocab));
  }
  return static_cast<std::int32_t>(id);
}

}  // namespace

ModelConfig gguf_model_config(const GgufFile& file) {
  const std::string arch(file.get_string("general.architecture"));
  if (arch != "llama" && arch != "qwen2") {
    throw Error(file.path() + ": key 'general.architecture'",
                "'" + arch + "' is not supported (pocket runs llama and qwen2 GGUF files)");
  }
  const Keys k(file, arch);
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.model_type = arch;
  c.hidden = k.integer("embedding_length", 1, kMaxDim);
  c.n_layers = k.integer("block_count", 1, 4096);
  c.n_heads = k.integer("attention.head_count", 1, 4096);
  c.n_kv_heads = k.integer_or("attention.head_count_kv", c.n_heads, 1, c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0) {
    k.fail(k.key("attention.head_count_kv"), "does not divide attention.head_count");
  }
  c.head_dim = k.integer_or("attention.key_length", c.hidden / c.n_heads, 2, kMaxDim);
  if (c.head_dim % 2 != 0) k.fail(k.key("attention.key_length"), "must be even for RoPE");
  if (k.integer_or("attention.value_length", c.head_dim, 1, kMaxDim) != c.head_dim) {
    k.fail(k.key("attention.value_length"), "differs from attention.key_length");
  }
  if (k.integer_or("rope.dimension_count", c.head_dim, 1, kMaxDim) != c.head_dim) {
    k.fail(k.key("rope.dimension_count"), "partial rotary embeddings are not supported yet");
  }
  c.ffn_dim = k.integer("feed_forward_length", 1, kMaxDim);
  c.max_positions = k.integer("context_length", 1, kMaxDim);
  c.embed_dim = c.hidden;
  c.norm = Norm::kRmsNorm;
  c.norm_eps = static_cast<float>(k.number_or("attention.layer_norm_rms_epsilon", 1e-6, 0.0, 1.0));
  c.activation = Activation::kSilu;
  c.pre_norm = true;
  c.final_norm = true;
  c.rope_theta = static_cast<float>(k.number_or("rope.freq_base", 10000.0, 1.0, 1e12));
  c.rope_interleaved = arch == "llama";
  if (k.has("rope.scaling.type") &&
      file.get_string(k.key("rope.scaling.type")) != "none") {
    k.fail(k.key("rope.scaling.type"), "RoPE scaling is not supported yet");
  }
  if (file.find_tensor("rope_freqs.weight") != nullptr) {  // Llama-3.1's frequency factors
    throw Error(file.path() + ": tensor 'rope_freqs.weight'", "RoPE scaling is not supported yet");
  }
  if (k.integer_or("expert_count", 0, 0, 1 << 16) > 0) {
    k.fail(k.key("expert_count"), "mixture-of-experts models are not supported");
  }
  if (k.has("attention.sliding_window")) {
    k.fail(k.key("attention.sliding_window"), "sliding-window attention is not supported yet");
  }

  // The vocabulary is the embedding table's rows (token_embd.weight is [hidden, vocab] in GGUF's
  // dimension order); <arch>.vocab_size, when present, must agree.
  const GgufTensor* embed = file.find_tensor("token_embd.weight");
  if (embed == nullptr || embed->dims.size() != 2) {
    throw Error(file.path() + ": tensor 'token_embd.weight'", "missing or not a matrix");
  }
  c.vocab_size = embed->dims[1];
  if (k.integer_or("vocab_size", c.vocab_size, 1, std::int64_t{1} << 24) != c.vocab_size) {
    k.fail(k.key("vocab_size"), "differs from the rows of token_embd.weight (" +
                                    std::to_string(c.vocab_size) + ")");
  }
  c.tie_word_embeddings = file.find_tensor("output.weight") == nullptr;
  c.qkv_bias = file.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.o_bias = file.find_tensor("blk.0.attn_output.bias") != nullptr;
  c.mlp_bias = file.find_tensor("blk.0.ffn_up.bias") != nullptr;
  c.bos_token_id = token_id_or(file, "tokenizer.ggml.bos_token_id", -1, c.vocab_size);
  c.eos_token_id = token_id_or(file, "tokenizer.ggml.eos_token_id", -1, c.vocab_size);
  c.pad_token_id = token_id_or(file, "tokenizer.ggml.padding_token_id", -1, c.vocab_size);
  set_family_features(c);
  return c;
}

std::string gguf_architecture(const ModelConfig& config, const std::string& where) {
  if (config.arch == Arch::kLlama) return config.model_type == "qwen2" ? "qwen2" : "llama";
  throw Error(where, std::string("model_type '") + config.model_type +
                         "': GGUF export covers the llama family (llama, mistral, qwen2) so far");
}

void add_config_keys(const ModelConfig& c, const std::string& where, GgufMetadata& out) {
  const std::string arch = gguf_architecture(c, where);
  auto u32 = [&](const char* name, std::int64_t v) {
    out.add_u32(arch + "." + name, static_cast<std::uint32_t>(v));
  };
  out.add_string("general.architecture", arch);
  u32("context_length", c.max_positions);
  u32("embedding_length", c.hidden);
  u32("block_count", c.n_layers);
  u32("feed_forward_length", c.ffn_dim);
  u32("attention.head_count", c.n_heads);
  u32("attention.head_count_kv", c.n_kv_heads);
  out.add_f32(arch + ".rope.freq_base", c.rope_theta);
  out.add_f32(arch + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  u32("attention.key_length", c.head_dim);
  u32("attention.value_length", c.head_dim);
  u32("vocab_size", c.vocab_size);
  u32("rope.dimension_count", c.head_dim);
}

}  // namespace pocket
