// Tensor names of GGUF files (llama.cpp's: `blk.N.attn_q.weight`, `token_embd.weight`, ...) for
// the Hugging Face names pocket binds (`model.layers.N.self_attn.q_proj.weight`, ...): one table
// per family, read in both directions (loading a GGUF file, writing one with `pocket quantize`).
#pragma once

#include <string>

#include "io/model_config.h"

namespace pocket {

// The GGUF name of HF tensor `hf_name` in a model of family `arch`, or "" when the family has no
// GGUF name for it.
std::string gguf_tensor_name(Arch arch, const std::string& hf_name);

}  // namespace pocket
