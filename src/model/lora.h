// LoRA adapters over a frozen base (Hu et al. 2021; Hugging Face PEFT's layout and names).
//
// A targeted Linear y = x·Wᵀ + b gains two fp32 matrices A [r, in] and B [out, r] owned by the
// model (never in the mapped checkpoint), and computes y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ. They are
// Params of kind kAdapter under PEFT's saved names,
//     base_model.model.<module>.lora_A.weight      <module> = the Linear's checkpoint name
//     base_model.model.<module>.lora_B.weight                 without ".weight"
// so their pid = fnv1a64(name) keys their z like any tensor's. Initialised as PEFT's
// reset_lora_parameters does (A = kaiming_uniform_(a=√5), i.e. U(−1/√in, 1/√in); B = 0, so
// the adapted model starts as the base), A drawn from the run seed (lora_init_a, exact formula
// in src/zo/README.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"

namespace pocket {

struct LoraOptions {
  std::int64_t rank = 0;  // r; 0: no adapters
  double alpha = 8.0;     // lora_alpha; PEFT's LoraConfig default is 8
  // PEFT target_modules: a Linear whose module name equals one or ends in "." + it is adapted.
  // Items may hold comma-separated lists. Empty: default_lora_targets(arch).
  std::vector<std::string> targets;
};

// PEFT's default target modules for the architecture (its
// TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING): q_proj, v_proj for OPT and the Llama
// family; query, value for RoBERTa.
std::vector<std::string> default_lora_targets(Arch arch);
// options.targets split at commas (empty items dropped), or the default for `arch`.
std::vector<std::string> lora_targets(const LoraOptions& options, Arch arch);
// PEFT's rule: module == target, or module ends with "." + target.
bool lora_target_matches(const std::string& module, const std::string& target);

// "base_model.model." + module + ".lora_A.weight" (which = 'A') or ".lora_B.weight".
std::string lora_param_name(const std::string& module, char which);

// A[i] for i < n of the adapter with parameter id pid, fan-in `in`:
//   w   = z_word(z_key(seed ^ kLoraInitDomain, pid), i)          (zrng.h)
//   u   = w >> 40                                                 (24 bits, 0 … 2^24 − 1)
//   A[i] = f32( ((2u + 1 − 2^24) / 2^24) / √in )                  in double, rounded once
// an odd multiple of 2^−24 in (−1, 1), symmetric about 0, scaled to U(−1/√in, 1/√in).
inline constexpr std::uint64_t kLoraInitDomain = 0x4c4f5241494e4954ull;  // "LORAINIT"
float lora_init_value(std::uint64_t seed, std::uint64_t pid, std::uint64_t i, std::int64_t in);
void lora_init_a(float* a, std::int64_t n, std::int64_t in, std::uint64_t seed, std::uint64_t pid);

}  // namespace pocket
