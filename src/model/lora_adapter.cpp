#include "model/lora_adapter.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/json_parse.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"

namespace pocket {
namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

std::vector<const Param*> adapter_params(const Model& model) {
  std::vector<const Param*> out;
  for (const Param& p : model.params()) {
    if (p.kind == ParamKind::kAdapter) out.push_back(&p);
  }
  return out;
}

}  // namespace

void write_lora_adapter(const Model& model, const std::string& base_name,
                        const std::string& out_dir) {
  if (!model.has_lora()) throw Error(out_dir, "the model has no LoRA adapters to export");
  const std::vector<const Param*> params = adapter_params(model);
  // The fields LoraConfig.save_pretrained writes that a loader needs, with PEFT's defaults for
  // what pocket does not do (no dropout, no bias training, no extra saved modules).
  nlohmann::ordered_json config;
  config["base_model_name_or_path"] = base_name;
  config["bias"] = "none";
  config["fan_in_fan_out"] = false;
  config["inference_mode"] = true;
  config["init_lora_weights"] = true;
  // PEFT writes an integer alpha as one (LoraConfig's lora_alpha is an int).
  const double alpha = model.lora().alpha;
  if (alpha == static_cast<double>(static_cast<std::int64_t>(alpha))) {
    config["lora_alpha"] = static_cast<std::int64_t>(alpha);
  } else {
    config["lora_alpha"] = alpha;
  }
  config["lora_dropout"] = 0.0;
  config["modules_to_save"] = nullptr;
  config["peft_type"] = "LORA";
  config["r"] = model.lora().rank;
  config["revision"] = nullptr;
  config["target_modules"] = model.lora().targets;
  config["task_type"] =
      model.config().causal ? nlohmann::ordered_json("CAUSAL_LM") : nlohmann::ordered_json(nullptr);
  std::vector<TensorSpec> specs;
  for (const Param* p : params)
    specs.push_back({p->name, Dtype::kF32, {p->view.rows, p->view.cols}});
  create_directory_atomic(out_dir, [&](const std::string& temp) {
    write_safetensors(temp + "/" + kWeightsFile, specs, {{"format", "pt"}},
                      [&](std::size_t i, std::uint8_t* dst, std::size_t nbytes) {
                        std::memcpy(dst, params[i]->view.data, nbytes);
                      });
    write_file_atomic(temp + "/" + kConfigFile, config.dump(2) + "\n");
  });
}

void load_lora_adapter(Model& model, const std::string& dir) {
  const std::string config_path = dir + "/" + kConfigFile;
  const std::string weights_path = dir + "/" + kWeightsFile;
  for (const std::string& path : {config_path, weights_path}) {
    if (!std::filesystem::is_regular_file(path))
      throw Error(path, "missing (--adapter wants a PEFT adapter directory)");
  }
  std::ifstream in(config_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json config = parse_json(text.str(), config_path);
  if (!config.is_object()) throw Error(config_path, "not a JSON object");
  if (!config.contains("peft_type") || config["peft_type"] != "LORA") {
    throw Error(config_path, "peft_type is not \"LORA\"");
  }
  LoraOptions options;
  options.rank = json_int(config.value("r", nlohmann::json()), "r", 1, 4096, config_path);
  if (!config.contains("lora_alpha") || !config["lora_alpha"].is_number()) {
    throw Error(config_path, "field 'lora_alpha' is not a number");
  }
  options.alpha = config["lora_alpha"].get<double>();
  const nlohmann::json targets = config.value("target_modules", nlohmann::json());
  if (targets.is_string()) {
    // PEFT also accepts a regular expression here; pocket matches names, so only plain ones.
    options.targets.push_back(targets.get<std::string>());
  } else if (targets.is_array() && !targets.empty()) {
    for (const nlohmann::json& t : targets) {
      if (!t.is_string()) throw Error(config_path, "target_modules holds a non-string");
      options.targets.push_back(t.get<std::string>());
    }
  } else {
    throw Error(config_path, "field 'target_modules' is not a non-empty list of module names");
  }
  const SafetensorsFile file(weights_path);
  try {
    model.attach_lora(options, 0);  // A's init is overwritten below
  } catch (const Error& e) {
    throw Error(config_path, e.what());
  }
  std::map<std::string, const Param*> wanted;
  for (const Param* p : adapter_params(model)) wanted[p->name] = p;
  for (const TensorView& t : file.tensors()) {
    if (wanted.count(t.name) == 0) {
      throw Error(weights_path,
                  "tensor '" + t.name + "' belongs to no adapted module of " + model.path());
    }
  }
  for (const auto& [name, p] : wanted) {
    const TensorView* t = file.find(name);
    if (t == nullptr) throw Error(weights_path, "no tensor '" + name + "'");
    const std::vector<std::int64_t> shape = {p->view.rows, p->view.cols};
    if (t->shape != shape) {
      throw Error(weights_path, "tensor '" + name + "' has shape " + shape_text(t->shape) +
                                    ", the model wants " + shape_text(shape));
    }
    float* dst = static_cast<float*>(model.mutable_view(*p).data);
    const std::int64_t n = t->numel();
    if (t->dtype == Dtype::kF32) {
      std::memcpy(dst, t->data, static_cast<std::size_t>(n) * sizeof(float));
    } else if (t->dtype == Dtype::kF16 || t->dtype == Dtype::kBF16) {
      const auto* h = reinterpret_cast<const std::uint16_t*>(t->data);
      for (std::int64_t i = 0; i < n; ++i) {
        dst[i] = t->dtype == Dtype::kF16 ? f16_to_f32_scalar(h[i]) : bf16_to_f32(h[i]);
      }
    } else {
      throw Error(weights_path,
                  "tensor '" + name + "' is " + dtype_name(t->dtype) + ", not F32, F16 or BF16");
    }
  }
}

}  // namespace pocket
