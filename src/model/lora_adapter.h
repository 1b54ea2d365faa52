// A PEFT LoRA adapter directory, as Hugging Face PEFT's save_pretrained writes it and its
// PeftModel.from_pretrained reads it:
//   adapter_model.safetensors  the adapters under their saved names (model/lora.h), F32
//   adapter_config.json        LoraConfig: peft_type "LORA", r, lora_alpha, target_modules, ...
// `pocket export RUN OUT --adapter` writes one; `pocket eval/generate/forward MODEL --adapter DIR`
// attaches one to a base model without merging it.
#pragma once

#include <string>

#include "model/model.h"

namespace pocket {

// Creates OUT_DIR atomically (create_directory_atomic) holding the model's adapters (F32, their
// exact bits) and its LoRA config. base_name: base_model_name_or_path. task_type is "CAUSAL_LM"
// for a causal LM and null otherwise (PEFT has no task type for a RoBERTa prompt classifier).
// Throws pocket::Error when the model has no adapters.
void write_lora_adapter(const Model& model, const std::string& base_name,
                        const std::string& out_dir);

// Reads DIR/adapter_config.json (peft_type LORA, r, lora_alpha, target_modules) and
// DIR/adapter_model.safetensors (F32, F16 or BF16, converted to fp32 once), attaches adapters
// with those options to `model` and sets them to the file's values. One-line pocket::Error naming
// the file for: a missing file, a config field missing or out of range, a target that names no
// linear layer, a tensor missing from the file, a tensor that belongs to no adapted module, a
// shape or dtype that does not fit.
void load_lora_adapter(Model& model, const std::string& dir);

}  // namespace pocket
