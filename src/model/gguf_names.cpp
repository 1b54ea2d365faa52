#include "model/gguf_names.h"

#include <cstddef>
#include <string_view>

namespace pocket {
namespace {

struct NamePair {
  std::string_view hf;
  std::string_view gguf;
};

// Llama family (llama, qwen2, mistral): llama.cpp's LLM_TENSOR_NAMES of LLM_ARCH_LLAMA. Names
// outside layers are whole; layer names are the part after "model.layers.N." / "blk.N.", before
// ".weight" / ".bias".
constexpr NamePair kLlamaGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
constexpr NamePair kLlamaLayer[] = {
    {"self_attn.q_proj", "attn_q"},       {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},       {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},        {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},        {"input_layernorm", "attn_norm"},
    {"post_attention_layernorm", "ffn_norm"},
};

struct FamilyNames {
  std::string_view layer_prefix;  // HF prefix of layer N's tensors, before N
  const NamePair* global;
  std::size_t n_global;
  const NamePair* layer;
  std::size_t n_layer;
};

FamilyNames family_names(Arch arch) {
  switch (arch) {
    case Arch::kLlama:
      return {"model.layers.", kLlamaGlobal, std::size(kLlamaGlobal), kLlamaLayer,
              std::size(kLlamaLayer)};
    case Arch::kOpt:
    case Arch::kRoberta: break;
  }
  return {"", nullptr, 0, nullptr, 0};
}

}  // namespace

std::string gguf_tensor_name(Arch arch, const std::string& hf_name) {
  const FamilyNames f = family_names(arch);
  for (std::size_t i = 0; i < f.n_global; ++i) {
    if (f.global[i].hf == hf_name) return std::string(f.global[i].gguf);
  }
  const std::string_view name = hf_name;
  if (f.layer_prefix.empty() || !name.starts_with(f.layer_prefix)) return "";
  // "<prefix>N.<part>.<weight|bias>"
  const std::size_t n_begin = f.layer_prefix.size();
  std::size_t n_end = n_begin;
  while (n_end < name.size() && name[n_end] >= '0' && name[n_end] <= '9') ++n_end;
  if (n_end == n_begin || n_end >= name.size() || name[n_end] != '.') return "";
  const std::size_t dot = name.rfind('.');
  if (dot <= n_end) return "";
  const std::string_view part = name.substr(n_end + 1, dot - n_end - 1);
  const std::string_view suffix = name.substr(dot);  // ".weight" or ".bias"
  if (suffix != ".weight" && suffix != ".bias") return "";
  for (std::size_t i = 0; i < f.n_layer; ++i) {
    if (f.layer[i].hf == part) {
      return "blk." + std::string(name.substr(n_begin, n_end - n_begin)) + "." +
             std::string(f.layer[i].gguf) + std::string(suffix);
    }
  }
  return "";
}

}  // namespace pocket
