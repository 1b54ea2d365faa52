#include "io/gguf_config.h"

#include <algorithm>
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

// HF's activation names (config.json's activation_function / hidden_act), written as the
// <arch>.activation_function of opt and roberta files: llama.cpp fixes the activation per
// architecture, but these families' configs choose it.
const char* activation_key_name(Activation a) {
  switch (a) {
    case Activation::kRelu: return "relu";
    case Activation::kGelu: return "gelu";
    case Activation::kGeluTanh: return "gelu_new";
    case Activation::kSilu: return "silu";
  }
  return "relu";
}

Activation read_activation(const GgufFile& file, const Keys& k, const char* fallback) {
  const std::string name = k.has("activation_function")
                               ? std::string(file.get_string(k.key("activation_function")))
                               : fallback;
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  k.fail(k.key("activation_function"), "'" + name + "' is not an activation pocket has");
}

// The keys every family has: widths, depth, heads, the trained context; the vocabulary is the
// embedding table's rows (token_embd.weight is [embed, vocab] in GGUF's dimension order), and
// <arch>.vocab_size, when present, must agree.
void read_common(const GgufFile& file, const Keys& k, ModelConfig& c) {
  c.hidden = k.integer("embedding_length", 1, kMaxDim);
  c.n_layers = k.integer("block_count", 1, 4096);
  c.n_heads = k.integer("attention.head_count", 1, 4096);
  c.ffn_dim = k.integer("feed_forward_length", 1, kMaxDim);
  c.max_positions = k.integer("context_length", 1, kMaxDim);
  c.embed_dim = c.hidden;
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
}

// OPT and RoBERTa: multi-head attention with hidden / heads wide heads, LayerNorm, learned
// positions (no RoPE keys, no q/k permutation).
void read_mha_heads(const Keys& k, ModelConfig& c) {
  c.n_kv_heads = k.integer_or("attention.head_count_kv", c.n_heads, 1, c.n_heads);
  if (c.n_kv_heads != c.n_heads) {
    k.fail(k.key("attention.head_count_kv"), "grouped-query attention is llama-family only");
  }
  if (c.hidden % c.n_heads != 0) {
    k.fail(k.key("attention.head_count"), "does not divide embedding_length");
  }
  c.head_dim = c.hidden / c.n_heads;
  c.norm = Norm::kLayerNorm;
}

void read_llama(const GgufFile& file, const Keys& k, const std::string& arch, ModelConfig& c) {
  c.arch = Arch::kLlama;
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
  c.norm = Norm::kRmsNorm;
  c.norm_eps = static_cast<float>(k.number_or("attention.layer_norm_rms_epsilon", 1e-6, 0.0, 1.0));
  c.activation = Activation::kSilu;
  c.pre_norm = true;
  c.final_norm = true;
  c.rope_theta = static_cast<float>(k.number_or("rope.freq_base", 10000.0, 1.0, 1e12));
  c.rope_interleaved = arch == "llama";
  // llama.cpp's linear scaling (freq_scale = 1 / factor) is HF's "linear"; YaRN's keys in GGUF
  // carry ggml's own parameterisation, not read yet.
  if (k.has("rope.scaling.type")) {
    const std::string type(file.get_string(k.key("rope.scaling.type")));
    if (type == "linear") {
      c.rope_scaling.type = RopeScalingType::kLinear;
      c.rope_scaling.factor = k.number_or("rope.scaling.factor", 1.0, 1.0, 1e6);
    } else if (type != "none") {
      k.fail(k.key("rope.scaling.type"), "RoPE scaling '" + type + "' is not supported yet");
    }
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
  c.qkv_bias = file.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.o_bias = file.find_tensor("blk.0.attn_output.bias") != nullptr;
  c.mlp_bias = file.find_tensor("blk.0.ffn_up.bias") != nullptr;
  c.bos_token_id = token_id_or(file, "tokenizer.ggml.bos_token_id", -1, c.vocab_size);
  c.eos_token_id = token_id_or(file, "tokenizer.ggml.eos_token_id", -1, c.vocab_size);
  c.pad_token_id = token_id_or(file, "tokenizer.ggml.padding_token_id", -1, c.vocab_size);
}

// OPT: pre- or post-LN (opt.layer_norm_before, HF's do_layer_norm_before, required: guessing it
// would run another model), the final norm and the biases (enable_bias) as the tensors say, the
// token embeddings opt.word_embedding_length wide (word_embed_proj_dim) with project_in/out
// when that differs from embedding_length. Special ids default to OPT's (pad 1, bos = eos 2).
void read_opt(const GgufFile& file, const Keys& k, ModelConfig& c) {
  c.arch = Arch::kOpt;
  read_mha_heads(k, c);
  c.embed_dim = k.integer_or("word_embedding_length", c.hidden, 1, kMaxDim);
  c.norm_eps = static_cast<float>(k.number_or("attention.layer_norm_epsilon", 1e-5, 0.0, 1.0));
  c.activation = read_activation(file, k, "relu");
  c.pre_norm = file.get_bool(k.key("layer_norm_before"));
  c.final_norm = file.find_tensor("output_norm.weight") != nullptr;
  c.qkv_bias = c.o_bias = c.mlp_bias = file.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.pad_token_id = token_id_or(file, "tokenizer.ggml.padding_token_id", 1, c.vocab_size);
  c.bos_token_id = token_id_or(file, "tokenizer.ggml.bos_token_id", 2, c.vocab_size);
  c.eos_token_id = token_id_or(file, "tokenizer.ggml.eos_token_id", 2, c.vocab_size);
}

// RoBERTa: a post-LN encoder with biases everywhere and the MLM head; positions start after
// roberta.position_padding_idx (HF's padding_idx = pad_token_id, required: it moves every
// position), roberta.token_type_count rows of token types (type 0 is used).
void read_roberta(const GgufFile& file, const Keys& k, ModelConfig& c) {
  c.arch = Arch::kRoberta;
  read_mha_heads(k, c);
  c.norm_eps = static_cast<float>(k.number_or("attention.layer_norm_epsilon", 1e-12, 0.0, 1.0));
  c.activation = read_activation(file, k, "gelu");
  c.pre_norm = false;
  c.final_norm = false;
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.type_vocab_size = k.integer_or("token_type_count", 1, 1, 1024);
  // A token id, and room in the position table for padding_idx + 1 + position 0.
  c.pad_token_id = static_cast<std::int32_t>(
      k.integer("position_padding_idx", 0, std::min(c.vocab_size - 1, c.max_positions - 2)));
  if (token_id_or(file, "tokenizer.ggml.padding_token_id", c.pad_token_id, c.vocab_size) !=
      c.pad_token_id) {
    throw Error(file.path() + ": key 'tokenizer.ggml.padding_token_id'",
                "differs from " + k.key("position_padding_idx"));
  }
  c.bos_token_id = token_id_or(file, "tokenizer.ggml.bos_token_id", 0, c.vocab_size);
  c.eos_token_id = token_id_or(file, "tokenizer.ggml.eos_token_id", 2, c.vocab_size);
}

}  // namespace

ModelConfig gguf_model_config(const GgufFile& file) {
  const std::string arch(file.get_string("general.architecture"));
  const bool llama = arch == "llama" || arch == "qwen2";
  if (!llama && arch != "opt" && arch != "roberta") {
    throw Error(file.path() + ": key 'general.architecture'",
                "'" + arch + "' is not supported (pocket runs llama, qwen2, opt and roberta GGUF "
                             "files)");
  }
  const Keys k(file, arch);
  ModelConfig c;
  c.model_type = arch;
  read_common(file, k, c);
  if (llama) {
    read_llama(file, k, arch, c);
  } else if (arch == "opt") {
    read_opt(file, k, c);
  } else {
    read_roberta(file, k, c);
  }
  set_family_features(c);
  return c;
}

std::string gguf_architecture(const ModelConfig& config) {
  switch (config.arch) {
    case Arch::kLlama: return config.model_type == "qwen2" ? "qwen2" : "llama";
    case Arch::kOpt: return "opt";
    case Arch::kRoberta: return "roberta";
  }
  return "llama";
}

void add_config_keys(const ModelConfig& c, GgufMetadata& out) {
  const std::string arch = gguf_architecture(c);
  auto u32 = [&](const char* name, std::int64_t v) {
    out.add_u32(arch + "." + name, static_cast<std::uint32_t>(v));
  };
  out.add_string("general.architecture", arch);
  u32("context_length", c.max_positions);
  u32("embedding_length", c.hidden);
  u32("block_count", c.n_layers);
  u32("feed_forward_length", c.ffn_dim);
  u32("attention.head_count", c.n_heads);
  u32("vocab_size", c.vocab_size);
  switch (c.arch) {
    case Arch::kLlama:
      u32("attention.head_count_kv", c.n_kv_heads);
      out.add_f32(arch + ".rope.freq_base", c.rope_theta);
      out.add_f32(arch + ".attention.layer_norm_rms_epsilon", c.norm_eps);
      u32("attention.key_length", c.head_dim);
      u32("attention.value_length", c.head_dim);
      u32("rope.dimension_count", c.head_dim);
      if (c.rope_scaling.type == RopeScalingType::kLinear) {
        out.add_string(arch + ".rope.scaling.type", "linear");
        out.add_f32(arch + ".rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
      } else if (c.rope_scaling.type != RopeScalingType::kNone) {
        // llama.cpp stores llama3 as a rope_freqs.weight tensor and YaRN in its own terms.
        throw Error("gguf", std::string("rope_scaling '") + rope_scaling_name(c.rope_scaling.type) +
                                "' cannot be written to GGUF yet (linear can)");
      }
      break;
    case Arch::kOpt:
      out.add_f32(arch + ".attention.layer_norm_epsilon", c.norm_eps);
      out.add_bool(arch + ".layer_norm_before", c.pre_norm);
      u32("word_embedding_length", c.embed_dim);
      out.add_string(arch + ".activation_function", activation_key_name(c.activation));
      break;
    case Arch::kRoberta:
      out.add_f32(arch + ".attention.layer_norm_epsilon", c.norm_eps);
      u32("token_type_count", c.type_vocab_size);
      u32("position_padding_idx", c.pad_token_id);
      out.add_string(arch + ".activation_function", activation_key_name(c.activation));
      break;
  }
}

}  // namespace pocket
