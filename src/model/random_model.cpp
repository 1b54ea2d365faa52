#include "model/random_model.h"

#include <algorithm>
#include <cmath>

#include "io/error.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "model/model_weights.h"

namespace pocket {
namespace {

struct Shape {
  const char* name;
  Arch arch;
  std::int64_t vocab, hidden, layers, heads, kv_heads, ffn, max_pos, embed_dim;
  bool pre_norm;
};

// Published shapes (the Hugging Face config.json of each model).
constexpr Shape kShapes[] = {
    {"opt-125m", Arch::kOpt, 50272, 768, 12, 12, 12, 3072, 2048, 768, true},
    {"opt-350m", Arch::kOpt, 50272, 1024, 24, 16, 16, 4096, 2048, 512, false},
    {"opt-1.3b", Arch::kOpt, 50272, 2048, 24, 32, 32, 8192, 2048, 2048, true},
    {"roberta-large", Arch::kRoberta, 50265, 1024, 24, 16, 16, 4096, 514, 1024, false},
    {"tinyllama-1.1b", Arch::kLlama, 32000, 2048, 22, 32, 4, 5632, 2048, 2048, true},
};

// "Random 64-bit word" -> a unit-variance, zero-mean value: four 16-bit uniforms summed
// (Irwin-Hall, variance 4/12 of 65536² units) — bell-shaped, bounded by ±2√3, cheap.
inline float unit_normalish(std::uint64_t word) {
  const std::int64_t sum = static_cast<std::int64_t>(word & 0xFFFF) + ((word >> 16) & 0xFFFF) +
                           ((word >> 32) & 0xFFFF) + ((word >> 48) & 0xFFFF);
  constexpr double kCenter = 2.0 * 65535.0;
  constexpr double kScale = 1.7320508075688772 / 65536.0;  // sqrt(12 / 4) per unit
  return static_cast<float>((static_cast<double>(sum) - kCenter) * kScale);
}

constexpr std::uint64_t kInitDomain = 0x494E495457454947ull;  // "INITWEIG": not the z stream

}  // namespace

std::vector<std::string> shape_names() {
  std::vector<std::string> names{"tiny"};
  for (const Shape& s : kShapes) names.emplace_back(s.name);
  return names;
}

ModelConfig shape_config(Arch arch, const std::string& shape) {
  ModelConfig c;
  c.arch = arch;
  const Shape* found = nullptr;
  for (const Shape& s : kShapes) {
    if (shape == s.name) found = &s;
  }
  if (shape == "tiny") {
    // Small enough to build and run in a test in milliseconds, big enough to have every part.
    static constexpr Shape kTiny[] = {
        {"tiny", Arch::kOpt, 1024, 64, 2, 4, 4, 256, 256, 64, true},
        {"tiny", Arch::kRoberta, 1024, 64, 2, 4, 4, 256, 258, 64, false},
        {"tiny", Arch::kLlama, 1024, 64, 2, 4, 2, 192, 256, 64, true},
    };
    for (const Shape& s : kTiny) {
      if (s.arch == arch) found = &s;
    }
  } else if (found == nullptr) {
    std::string known;
    for (const std::string& n : shape_names()) known += " " + n;
    throw Error("--shape", "unknown shape '" + shape + "' (known:" + known + ")");
  } else if (found->arch != arch) {
    throw Error("--shape", "'" + shape + "' is a " + arch_name(found->arch) + " shape, not " +
                               arch_name(arch));
  }
  const Shape& s = *found;
  c.vocab_size = s.vocab;
  c.hidden = s.hidden;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.hidden / s.heads;
  c.ffn_dim = s.ffn;
  c.max_positions = s.max_pos;
  c.embed_dim = s.embed_dim;
  c.pre_norm = s.pre_norm;
  switch (arch) {
    case Arch::kOpt:
      c.model_type = "opt";
      c.norm = Norm::kLayerNorm;
      c.norm_eps = 1e-5f;
      c.activation = Activation::kRelu;
      c.final_norm = c.pre_norm;
      c.tie_word_embeddings = true;
      c.qkv_bias = c.o_bias = c.mlp_bias = true;
      c.pad_token_id = 1;
      c.bos_token_id = 2;
      c.eos_token_id = 2;
      break;
    case Arch::kRoberta:
      c.model_type = "roberta";
      c.norm = Norm::kLayerNorm;
      c.norm_eps = 1e-5f;
      c.activation = Activation::kGelu;
      c.final_norm = false;
      c.tie_word_embeddings = true;
      c.qkv_bias = c.o_bias = c.mlp_bias = true;
      c.type_vocab_size = 1;
      c.pad_token_id = 1;
      c.bos_token_id = 0;
      c.eos_token_id = 2;
      break;
    case Arch::kLlama:
      c.model_type = "llama";
      c.norm = Norm::kRmsNorm;
      c.norm_eps = 1e-5f;
      c.activation = Activation::kSilu;
      c.final_norm = true;
      c.tie_word_embeddings = false;
      c.rope_theta = 10000.0f;
      c.pad_token_id = -1;
      c.bos_token_id = 1;
      c.eos_token_id = 2;
      break;
  }
  set_family_features(c);
  return c;
}

void write_random_weights(const ModelConfig& config, std::uint64_t seed, const std::string& dir,
                          float std) {
  const std::vector<TensorSpec> specs = model_tensor_specs(config);
  write_safetensors(
      dir + "/model.safetensors", specs, {{"format", "pt"}, {"pocket_init_seed", std::to_string(seed)}},
      [&](std::size_t index, std::uint8_t* dst, std::size_t nbytes) {
        const TensorSpec& spec = specs[index];
        fp16* out = reinterpret_cast<fp16*>(dst);
        const std::int64_t n = static_cast<std::int64_t>(nbytes / sizeof(fp16));
        const bool vector = spec.shape.size() == 1;
        const bool is_bias = spec.name.size() > 5 &&
                             spec.name.compare(spec.name.size() - 5, 5, ".bias") == 0;
        if (vector) {  // norm weights 1, biases 0
          const fp16 value = f32_to_f16_scalar(is_bias ? 0.0f : 1.0f);
          std::fill(out, out + n, value);
          return;
        }
        const std::uint64_t key = mix64(z_key(seed, fnv1a64(spec.name)) ^ kInitDomain);
        constexpr std::int64_t kChunk = 1 << 16;
        const std::int64_t n_chunks = (n + kChunk - 1) / kChunk;
        default_pool().run(n_chunks, [&](std::int64_t chunk, int) {
          float buf[1024];
          const std::int64_t end = std::min(n, (chunk + 1) * kChunk);
          for (std::int64_t i = chunk * kChunk; i < end; i += 1024) {
            const std::int64_t m = std::min<std::int64_t>(1024, end - i);
            for (std::int64_t j = 0; j < m; ++j) {
              buf[j] = std * unit_normalish(z_word(key, static_cast<std::uint64_t>(i + j)));
            }
            f32_to_f16(buf, out + i, static_cast<std::size_t>(m));
          }
        });
      });
}

}  // namespace pocket
