#include "io/model_config.h"

#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/json_parse.h"

namespace pocket {
namespace {

using nlohmann::json;

// Reads fields of one config.json, every failure naming the file and the field.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  std::int64_t integer(const char* key, std::int64_t min, std::int64_t max) const {
    if (!has(key)) throw Error(where_, std::string("missing field '") + key + "'");
    return checked_integer(key, min, max);
  }
  std::int64_t integer_or(const char* key, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) const {
    return has(key) ? checked_integer(key, min, max) : fallback;
  }
  double number_or(const char* key, double fallback, double min, double max) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number()) throw Error(where_, std::string("field '") + key + "' is not a number");
    const double x = v.get<double>();
    if (!(x >= min && x <= max)) {
      throw Error(where_, std::string("field '") + key + "' = " + v.dump() + " is out of range");
    }
    return x;
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) throw Error(where_, std::string("field '") + key + "' is not true/false");
    return v.get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) throw Error(where_, std::string("field '") + key + "' is not a string");
    return v.get<std::string>();
  }
  // Token ids may be null, a number, or (some configs) a list whose first entry is used.
  std::int32_t token_id_or(const char* key, std::int32_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    const json& x = v.is_array() && !v.empty() ? v.front() : v;
    const auto id = json_int_in(x, std::numeric_limits<std::int32_t>::min(),
                                std::numeric_limits<std::int32_t>::max());
    if (!id) throw Error(where_, std::string("field '") + key + "' is not a token id");
    return static_cast<std::int32_t>(*id);
  }
  // The object under `key` (which must be one), its failures naming it after the file.
  Fields object(const char* key) const {
    if (!j_.at(key).is_object()) fail(std::string("field '") + key + "' is not an object");
    return Fields(j_.at(key), where_ + ": " + key);
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_, what); }

 private:
  std::int64_t checked_integer(const char* key, std::int64_t min, std::int64_t max) const {
    return json_int(j_.at(key), key, min, max, where_);
  }
  const json& j_;
  std::string where_;
};

constexpr std::int64_t kMaxDim = std::int64_t{1} << 20;
constexpr std::int64_t kMaxVocab = std::int64_t{1} << 24;

// rope_scaling (transformers 4) or rope_parameters (transformers 5, which also holds rope_theta):
// the fields modeling_rope_utils.py reads for each rope_type ("type" in older configs).
RopeScaling parse_rope_scaling(const Fields& f, std::int64_t max_positions) {
  RopeScaling r;
  const std::string type = f.string_or("rope_type", f.string_or("type", "default"));
  const double kMaxFactor = 1e6;
  if (type == "default") return r;
  r.factor = f.number_or("factor", 1.0, 1.0, kMaxFactor);
  if (type == "linear" || type == "dynamic") {
    if (!f.has("factor")) f.fail("missing field 'factor'");
    r.type = type == "linear" ? RopeScalingType::kLinear : RopeScalingType::kDynamic;
  } else if (type == "llama3") {
    for (const char* key : {"factor", "low_freq_factor", "high_freq_factor",
                            "original_max_position_embeddings"}) {
      if (!f.has(key)) f.fail(std::string("missing field '") + key + "'");
    }
    r.type = RopeScalingType::kLlama3;
    r.low_freq_factor = f.number_or("low_freq_factor", 1.0, 1e-6, kMaxFactor);
    r.high_freq_factor = f.number_or("high_freq_factor", 4.0, 1e-6, kMaxFactor);
    if (!(r.high_freq_factor > r.low_freq_factor)) {
      f.fail("high_freq_factor must be greater than low_freq_factor");
    }
    r.original_max_positions = f.integer("original_max_position_embeddings", 1, kMaxDim);
  } else if (type == "yarn") {
    r.type = RopeScalingType::kYarn;
    r.original_max_positions =
        f.integer_or("original_max_position_embeddings", max_positions, 1, kMaxDim);
    if (!f.has("factor")) {  // transformers 5: the ratio of the context lengths
      r.factor = static_cast<double>(max_positions) / static_cast<double>(r.original_max_positions);
    }
    r.attention_factor = f.number_or("attention_factor", 0.0, 0.0, kMaxFactor);
    r.mscale = f.number_or("mscale", 0.0, 0.0, kMaxFactor);
    r.mscale_all_dim = f.number_or("mscale_all_dim", 0.0, 0.0, kMaxFactor);
    r.beta_fast = f.number_or("beta_fast", 32.0, 1e-6, kMaxFactor);
    r.beta_slow = f.number_or("beta_slow", 1.0, 1e-6, kMaxFactor);
    r.truncate = f.boolean_or("truncate", true);
  } else {
    f.fail("rope_type '" + type + "' is not supported (pocket has default, linear, dynamic, " +
           "llama3, yarn)");
  }
  return r;
}

Activation parse_activation(const Fields& f, const char* key, const std::string& fallback) {
  const std::string name = f.string_or(key, fallback);
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  f.fail(std::string("field '") + key + "' = '" + name + "' is not an activation pocket has");
}

void parse_opt(const Fields& f, ModelConfig& c) {
  c.arch = Arch::kOpt;
  c.vocab_size = f.integer("vocab_size", 1, kMaxVocab);
  c.hidden = f.integer("hidden_size", 1, kMaxDim);
  c.n_layers = f.integer("num_hidden_layers", 1, 4096);
  c.n_heads = f.integer("num_attention_heads", 1, 4096);
  c.n_kv_heads = c.n_heads;
  c.ffn_dim = f.integer("ffn_dim", 1, kMaxDim);
  c.max_positions = f.integer("max_position_embeddings", 1, kMaxDim);
  c.embed_dim = f.integer_or("word_embed_proj_dim", c.hidden, 1, kMaxDim);
  c.norm = Norm::kLayerNorm;
  c.norm_eps = 1e-5f;  // OPT's LayerNorms use PyTorch's default eps
  c.activation = parse_activation(f, "activation_function", "relu");
  c.pre_norm = f.boolean_or("do_layer_norm_before", true);
  // HF OPT: the decoder's final LayerNorm exists only for pre-LN models (opt-350m has none).
  c.final_norm = c.pre_norm && !f.boolean_or("_remove_final_layer_norm", false);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", true);
  const bool bias = f.boolean_or("enable_bias", true);
  c.qkv_bias = c.o_bias = c.mlp_bias = bias;
  if (!f.boolean_or("layer_norm_elementwise_affine", true)) {
    f.fail("layer_norm_elementwise_affine = false is not supported");
  }
  c.pad_token_id = f.token_id_or("pad_token_id", 1);
  c.bos_token_id = f.token_id_or("bos_token_id", 2);
  c.eos_token_id = f.token_id_or("eos_token_id", 2);
}

void parse_roberta(const Fields& f, ModelConfig& c) {
  c.arch = Arch::kRoberta;
  c.vocab_size = f.integer("vocab_size", 1, kMaxVocab);
  c.hidden = f.integer("hidden_size", 1, kMaxDim);
  c.n_layers = f.integer("num_hidden_layers", 1, 4096);
  c.n_heads = f.integer("num_attention_heads", 1, 4096);
  c.n_kv_heads = c.n_heads;
  c.ffn_dim = f.integer("intermediate_size", 1, kMaxDim);
  c.max_positions = f.integer("max_position_embeddings", 1, kMaxDim);
  c.embed_dim = c.hidden;
  c.norm = Norm::kLayerNorm;
  c.norm_eps = static_cast<float>(f.number_or("layer_norm_eps", 1e-12, 0.0, 1.0));
  c.activation = parse_activation(f, "hidden_act", "gelu");
  c.pre_norm = false;
  c.final_norm = false;
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", true);
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.type_vocab_size = f.integer_or("type_vocab_size", 1, 1, 1024);
  c.pad_token_id = f.token_id_or("pad_token_id", 1);
  c.bos_token_id = f.token_id_or("bos_token_id", 0);
  c.eos_token_id = f.token_id_or("eos_token_id", 2);
  // RoBERTa's positions start at padding_idx + 1, so the table needs room for them.
  if (c.pad_token_id < 0 || c.pad_token_id + 2 > c.max_positions) {
    f.fail("pad_token_id (the position padding_idx) does not fit max_position_embeddings");
  }
  const std::string pos = f.string_or("position_embedding_type", "absolute");
  if (pos != "absolute") f.fail("position_embedding_type '" + pos + "' is not supported");
}

void parse_llama(const Fields& f, ModelConfig& c, bool qwen2) {
  c.arch = Arch::kLlama;
  c.vocab_size = f.integer("vocab_size", 1, kMaxVocab);
  c.hidden = f.integer("hidden_size", 1, kMaxDim);
  c.n_layers = f.integer("num_hidden_layers", 1, 4096);
  c.n_heads = f.integer("num_attention_heads", 1, 4096);
  c.n_kv_heads = f.integer_or("num_key_value_heads", c.n_heads, 1, c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0) {
    f.fail("num_attention_heads is not a multiple of num_key_value_heads");
  }
  c.head_dim = f.integer_or("head_dim", c.hidden / c.n_heads, 2, kMaxDim);
  if (c.head_dim % 2 != 0) f.fail("head_dim must be even for rotary embeddings");
  c.ffn_dim = f.integer("intermediate_size", 1, kMaxDim);
  c.max_positions = f.integer_or("max_position_embeddings", 2048, 1, kMaxDim);
  c.embed_dim = c.hidden;
  c.norm = Norm::kRmsNorm;
  c.norm_eps = static_cast<float>(f.number_or("rms_norm_eps", 1e-6, 0.0, 1.0));
  c.activation = parse_activation(f, "hidden_act", "silu");
  if (c.activation != Activation::kSilu) f.fail("hidden_act must be silu for the gated MLP");
  c.pre_norm = true;
  c.final_norm = true;
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.rope_theta = static_cast<float>(f.number_or("rope_theta", 10000.0, 1.0, 1e12));
  if (qwen2) {
    c.qkv_bias = true;
  } else {
    c.qkv_bias = c.o_bias = f.boolean_or("attention_bias", false);
  }
  c.mlp_bias = f.boolean_or("mlp_bias", false);
  if (f.has("rope_parameters")) {
    const Fields rope = f.object("rope_parameters");
    c.rope_theta = static_cast<float>(rope.number_or("rope_theta", c.rope_theta, 1.0, 1e12));
    c.rope_scaling = parse_rope_scaling(rope, c.max_positions);
  } else if (f.has("rope_scaling")) {
    c.rope_scaling = parse_rope_scaling(f.object("rope_scaling"), c.max_positions);
  }
  if (f.has("sliding_window") && f.boolean_or("use_sliding_window", !qwen2)) {
    f.fail("sliding-window attention is not supported");
  }
  c.pad_token_id = f.token_id_or("pad_token_id", -1);
  c.bos_token_id = f.token_id_or("bos_token_id", 1);
  c.eos_token_id = f.token_id_or("eos_token_id", 2);
}

}  // namespace

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::kOpt: return "opt";
    case Arch::kRoberta: return "roberta";
    case Arch::kLlama: return "llama";
  }
  return "?";
}

std::int64_t ModelConfig::n_params() const {
  const std::int64_t d = hidden, hd = head_dim, q = n_heads * hd, kv = n_kv_heads * hd;
  std::int64_t layer = d * q + 2 * d * kv + q * d;  // q, k, v, o
  if (qkv_bias) layer += q + 2 * kv;
  if (o_bias) layer += d;
  layer += (gated_mlp ? 3 : 2) * d * ffn_dim;
  if (mlp_bias) layer += (gated_mlp ? 2 : 1) * ffn_dim + d;
  const std::int64_t norm_size = norm == Norm::kLayerNorm ? 2 * d : d;
  layer += 2 * norm_size;
  std::int64_t total = n_layers * layer + vocab_size * embed_dim;
  if (!tie_word_embeddings) total += vocab_size * embed_dim;
  if (final_norm) total += norm_size;
  if (positions == Positions::kLearned) total += position_rows * d;
  if (embed_dim != d) total += 2 * embed_dim * d;  // OPT's project_in and project_out
  if (arch == Arch::kRoberta) total += type_vocab_size * d + 2 * d;  // token types, LayerNorm
  if (head == Head::kMlm) total += d * d + d + 2 * d + vocab_size;   // dense, LayerNorm, bias
  return total;
}

void set_family_features(ModelConfig& c) {
  switch (c.arch) {
    case Arch::kOpt:  // OPTLearnedPositionalEmbedding: position + 2, padding -> row 1
      c.causal = true;
      c.positions = Positions::kLearned;
      c.position_rows = c.max_positions + 2;
      c.position_first_row = 2;
      c.position_pad_row = 1;
      c.gated_mlp = false;
      c.head = Head::kLinear;
      break;
    case Arch::kRoberta:  // create_position_ids_from_input_ids: padding_idx + 1 + position
      c.causal = false;
      c.positions = Positions::kLearned;
      c.position_rows = c.max_positions;
      c.position_first_row = c.pad_token_id + 1;
      c.position_pad_row = c.pad_token_id;
      c.gated_mlp = false;
      c.head = Head::kMlm;
      break;
    case Arch::kLlama:
      c.causal = true;
      c.positions = Positions::kRope;
      c.position_rows = c.position_first_row = c.position_pad_row = 0;
      c.gated_mlp = true;
      c.head = Head::kLinear;
      break;
  }
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open (is " + dir + " a Hugging Face model directory?)");
  std::stringstream text;
  text << in.rdbuf();
  const json j = parse_json(text.str(), path);
  if (!j.is_object()) throw Error(path, "not a JSON object");
  const Fields f(j, path);
  ModelConfig c;
  c.model_type = f.string_or("model_type", "");
  if (c.model_type == "opt") {
    parse_opt(f, c);
  } else if (c.model_type == "roberta" || c.model_type == "xlm-roberta") {
    parse_roberta(f, c);
  } else if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
    parse_llama(f, c, c.model_type == "qwen2");
  } else if (c.model_type.empty()) {
    f.fail("missing field 'model_type'");
  } else {
    f.fail("model_type '" + c.model_type +
           "' is not supported (pocket runs opt, roberta, llama, mistral, qwen2)");
  }
  if (c.head_dim == 0) {
    if (c.hidden % c.n_heads != 0) f.fail("hidden_size is not a multiple of num_attention_heads");
    c.head_dim = c.hidden / c.n_heads;
  }
  if (c.pad_token_id >= c.vocab_size || c.bos_token_id >= c.vocab_size ||
      c.eos_token_id >= c.vocab_size) {
    f.fail("a special token id is not below vocab_size");
  }
  set_family_features(c);
  return c;
}

std::string model_config_json(const ModelConfig& c) {
  json j;
  j["model_type"] = c.model_type.empty() ? arch_name(c.arch) : c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["max_position_embeddings"] = c.max_positions;
  j["torch_dtype"] = "float16";
  j["pad_token_id"] = c.pad_token_id < 0 ? json(nullptr) : json(c.pad_token_id);
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  switch (c.arch) {
    case Arch::kOpt:
      j["architectures"] = {"OPTForCausalLM"};
      j["ffn_dim"] = c.ffn_dim;
      j["word_embed_proj_dim"] = c.embed_dim;
      j["do_layer_norm_before"] = c.pre_norm;
      j["activation_function"] = "relu";
      j["enable_bias"] = c.qkv_bias;
      j["layer_norm_elementwise_affine"] = true;
      break;
    case Arch::kRoberta:
      j["architectures"] = {"RobertaForMaskedLM"};
      j["intermediate_size"] = c.ffn_dim;
      j["hidden_act"] = "gelu";
      j["layer_norm_eps"] = c.norm_eps;
      j["type_vocab_size"] = c.type_vocab_size;
      j["position_embedding_type"] = "absolute";
      break;
    case Arch::kLlama:
      j["architectures"] = {"LlamaForCausalLM"};
      j["intermediate_size"] = c.ffn_dim;
      j["num_key_value_heads"] = c.n_kv_heads;
      j["hidden_act"] = "silu";
      j["rms_norm_eps"] = c.norm_eps;
      j["rope_theta"] = c.rope_theta;
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
      if (c.head_dim != c.hidden / c.n_heads) j["head_dim"] = c.head_dim;
      if (c.rope_scaling.type != RopeScalingType::kNone) {
        const RopeScaling& r = c.rope_scaling;
        json rs = {{"rope_type", rope_scaling_name(r.type)}, {"factor", r.factor}};
        if (r.type == RopeScalingType::kLlama3) {
          rs["low_freq_factor"] = r.low_freq_factor;
          rs["high_freq_factor"] = r.high_freq_factor;
        }
        if (r.original_max_positions > 0) {
          rs["original_max_position_embeddings"] = r.original_max_positions;
        }
        if (r.type == RopeScalingType::kYarn) {
          if (r.attention_factor != 0.0) rs["attention_factor"] = r.attention_factor;
          if (r.mscale != 0.0) rs["mscale"] = r.mscale;
          if (r.mscale_all_dim != 0.0) rs["mscale_all_dim"] = r.mscale_all_dim;
          rs["beta_fast"] = r.beta_fast;
          rs["beta_slow"] = r.beta_slow;
          rs["truncate"] = r.truncate;
        }
        j["rope_scaling"] = rs;
      }
      break;
  }
  return j.dump(2) + "\n";
}

}  // namespace pocket
