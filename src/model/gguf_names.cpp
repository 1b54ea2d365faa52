#include "model/gguf_names.h"

#include <cstddef>
#include <string_view>

namespace pocket {
namespace {

struct NamePair {
  std::string_view hf;
  std::string_view gguf;
};

// In every table, names outside layers are whole; layer names are the part after the family's
// layer prefix + "N." / "blk.N.", before ".weight" / ".bias".
//
// Llama family (llama, qwen2, mistral): llama.cpp's LLM_TENSOR_NAMES of LLM_ARCH_LLAMA.
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

// OPT (model_type "opt"): llama.cpp has no OPT architecture; the names are llama.cpp's for the
// same roles (GPT-2's and BLOOM's position_embd, attn_norm before attention, ffn_norm before the
// MLP; a post-LN OPT keeps the names of its modules), plus project_in/project_out for opt-350m's
// word_embed_proj_dim.
constexpr NamePair kOptGlobal[] = {
    {"model.decoder.embed_tokens.weight", "token_embd.weight"},
    {"model.decoder.embed_positions.weight", "position_embd.weight"},
    {"model.decoder.project_in.weight", "project_in.weight"},
    {"model.decoder.project_out.weight", "project_out.weight"},
    {"model.decoder.final_layer_norm.weight", "output_norm.weight"},
    {"model.decoder.final_layer_norm.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
};
constexpr NamePair kOptLayer[] = {
    {"self_attn.q_proj", "attn_q"},         {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},         {"self_attn.out_proj", "attn_output"},
    {"fc1", "ffn_up"},                      {"fc2", "ffn_down"},
    {"self_attn_layer_norm", "attn_norm"},  {"final_layer_norm", "ffn_norm"},
};

// RoBERTa: llama.cpp's BERT names (token_types, token_embd_norm, attn_output_norm and
// layer_output_norm for the post-LN norms); its MLM head, which llama.cpp's BERT lacks, as
// mlm_dense / mlm_norm, and the decoder as output (its bias output.bias even when the weight is
// tied to token_embd).
constexpr NamePair kRobertaGlobal[] = {
    {"roberta.embeddings.word_embeddings.weight", "token_embd.weight"},
    {"roberta.embeddings.position_embeddings.weight", "position_embd.weight"},
    {"roberta.embeddings.token_type_embeddings.weight", "token_types.weight"},
    {"roberta.embeddings.LayerNorm.weight", "token_embd_norm.weight"},
    {"roberta.embeddings.LayerNorm.bias", "token_embd_norm.bias"},
    {"lm_head.dense.weight", "mlm_dense.weight"},
    {"lm_head.dense.bias", "mlm_dense.bias"},
    {"lm_head.layer_norm.weight", "mlm_norm.weight"},
    {"lm_head.layer_norm.bias", "mlm_norm.bias"},
    {"lm_head.decoder.weight", "output.weight"},
    {"lm_head.bias", "output.bias"},
};
constexpr NamePair kRobertaLayer[] = {
    {"attention.self.query", "attn_q"},
    {"attention.self.key", "attn_k"},
    {"attention.self.value", "attn_v"},
    {"attention.output.dense", "attn_output"},
    {"attention.output.LayerNorm", "attn_output_norm"},
    {"intermediate.dense", "ffn_up"},
    {"output.dense", "ffn_down"},
    {"output.LayerNorm", "layer_output_norm"},
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
      return {"model.decoder.layers.", kOptGlobal, std::size(kOptGlobal), kOptLayer,
              std::size(kOptLayer)};
    case Arch::kRoberta:
      return {"roberta.encoder.layer.", kRobertaGlobal, std::size(kRobertaGlobal), kRobertaLayer,
              std::size(kRobertaLayer)};
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
