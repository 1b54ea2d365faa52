// PEFT adapter directories (issue 14): `pocket export RUN OUT --adapter` writes a LoRA run's
// adapters as PEFT saves them, and `pocket eval/generate/forward BASE --adapter OUT` applies them.
// The exported tensors are the run's restored adapters byte for byte; the base with the adapter
// evaluates to the run's loss bit for bit; malformed adapters are refused in one line.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"
#include "model/lora_adapter.h"
#include "task/evaluate.h"
#include "zo/run_state.h"

namespace pocket {
using namespace cli_test;

namespace {

void write_lm_data(const std::string& path, int n) {
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    out << "{\"text\": \"Once upon a time there was a fox named " << i
        << " who liked the sun.\"}\n";
  }
}

// The lm loss of `model` on `data` (double, exact).
double lm_loss(const Model& model, const RunConfig& config, const std::string& data) {
  const auto tokenizer = load_tokenizer(config.base_model, model.config().model_type);
  const Task task = make_task(config.task, *tokenizer, model.config());
  const Dataset examples = load_dataset(data, task, *tokenizer);
  Evaluator evaluator(model, task, 4, examples.longest);
  return evaluator.run(examples).loss;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE(
    "cli: export --adapter writes the run's adapters as PEFT does; eval BASE --adapter equals eval "
    "RUN") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string d = tmp.path();
  REQUIRE(run("init --arch llama --shape tiny --seed 4 " + d + "/model", tmp).status == 0);
  write_lm_data(d + "/train.jsonl", 12);
  Result r =
      run("tune " + d + "/model --task lm --data " + d + "/train.jsonl --out " + d +
              "/run --lora 4 --lora-alpha 16 --lora-targets q_proj,o_proj,down_proj --steps 6 "
              "--batch 4 --lr 1e-2 --eps 1e-2 --seed 3 --quiet",
          tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  r = run("export " + d + "/run " + d + "/out --adapter", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);

  // The tensors: every adapter of the restored run, F32, same shape, same bytes, nothing else.
  const RunState state(d + "/run", [](const std::string&) {});
  const SafetensorsFile file(d + "/out/adapter_model.safetensors");
  std::size_t adapters = 0;
  bool moved = false;
  for (const Param& p : state.model().params()) {
    if (p.kind != ParamKind::kAdapter) continue;
    ++adapters;
    const TensorView* t = file.find(p.name);
    REQUIRE_MESSAGE(t != nullptr, p.name);
    CHECK(t->dtype == Dtype::kF32);
    CHECK(t->shape == std::vector<std::int64_t>{p.view.rows, p.view.cols});
    REQUIRE(t->nbytes == static_cast<std::size_t>(p.view.rows * p.view.cols) * sizeof(float));
    CHECK(std::memcmp(t->data, p.view.data, t->nbytes) == 0);
    if (p.name.ends_with("lora_B.weight")) {
      const auto* b = static_cast<const float*>(p.view.data);
      for (std::int64_t i = 0; i < p.view.rows * p.view.cols; ++i) moved = moved || b[i] != 0.0f;
    }
  }
  CHECK(adapters == 2 * 3 * static_cast<std::size_t>(state.model().config().n_layers));
  CHECK(file.tensors().size() == adapters);
  CHECK(moved);  // six steps moved B off zero, so the comparison below is not the base's
  CHECK(file.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") != nullptr);
  CHECK(file.find("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight") != nullptr);

  // The config: LoraConfig's fields as PEFT writes them.
  const nlohmann::json c = nlohmann::json::parse(slurp(d + "/out/adapter_config.json"));
  CHECK(c["peft_type"] == "LORA");
  CHECK(c["task_type"] == "CAUSAL_LM");
  CHECK(c["r"] == 4);
  CHECK(c["lora_alpha"] == 16);
  CHECK(c["lora_alpha"].is_number_integer());
  CHECK(c["target_modules"] == nlohmann::json::array({"q_proj", "o_proj", "down_proj"}));
  CHECK(c["lora_dropout"] == 0.0);
  CHECK(c["bias"] == "none");
  CHECK(c["fan_in_fan_out"] == false);
  CHECK(c["inference_mode"] == true);
  CHECK(c["init_lora_weights"] == true);
  CHECK(c["modules_to_save"].is_null());
  CHECK(c["revision"].is_null());
  CHECK(c["base_model_name_or_path"] == state.config().base_model);

  // Base + adapter is the run's model: the same loss, bit for bit, in process and through the CLI.
  Model base(d + "/model");
  load_lora_adapter(base, d + "/out");
  const double run_loss = lm_loss(state.model(), state.config(), d + "/train.jsonl");
  CHECK(lm_loss(base, state.config(), d + "/train.jsonl") == run_loss);
  Model plain(d + "/model");
  CHECK(lm_loss(plain, state.config(), d + "/train.jsonl") != run_loss);
  const Result via_run = run("eval " + d + "/run --data " + d + "/train.jsonl --json --quiet", tmp);
  const Result via_adapter = run("eval " + d + "/model --adapter " + d + "/out --task lm --data " +
                                     d + "/train.jsonl --json --quiet",
                                 tmp);
  REQUIRE_MESSAGE(via_adapter.status == 0, via_adapter.err);
  CHECK(via_adapter.out == via_run.out);
  // generate and forward take it too: greedy text and logits differ from the base's only by it.
  const std::string gen = "generate " + d + "/model --prompt Once -n 8 --temp 0 --ids";
  const Result g = run(gen + " --adapter " + d + "/out", tmp);
  REQUIRE_MESSAGE(g.status == 0, g.err);
  const Result f = run("forward " + d + "/model --text Once --json --adapter " + d + "/out", tmp);
  const Result f0 = run("forward " + d + "/model --text Once --json", tmp);
  REQUIRE_MESSAGE(f.status == 0, f.err);
  CHECK(f.out != f0.out);

  // An F16 copy of the adapter loads as the F16 values widened once.
  {
    std::filesystem::create_directory(d + "/half");
    std::filesystem::copy_file(d + "/out/adapter_config.json", d + "/half/adapter_config.json");
    std::vector<TensorSpec> specs;
    for (const TensorView& t : file.tensors()) specs.push_back({t.name, Dtype::kF16, t.shape});
    write_safetensors(d + "/half/adapter_model.safetensors", specs, {},
                      [&](std::size_t i, std::uint8_t* dst, std::size_t) {
                        const TensorView& t = file.tensors()[i];
                        const auto* x = reinterpret_cast<const float*>(t.data);
                        auto* h = reinterpret_cast<fp16*>(dst);
                        for (std::int64_t k = 0; k < t.numel(); ++k) h[k] = f32_to_f16_scalar(x[k]);
                      });
    Model half(d + "/model");
    load_lora_adapter(half, d + "/half");
    for (const Param& p : half.params()) {
      if (p.kind != ParamKind::kAdapter) continue;
      const auto* got = static_cast<const float*>(p.view.data);
      const auto* want = reinterpret_cast<const float*>(file.find(p.name)->data);
      bool same = true;
      for (std::int64_t k = 0; k < p.view.rows * p.view.cols; ++k) {
        same = same && got[k] == f16_to_f32_scalar(f32_to_f16_scalar(want[k]));
      }
      CHECK_MESSAGE(same, p.name);
    }
  }

  // Refusals, one line each.
  const std::string eval = " --task lm --data " + d + "/train.jsonl";
  check_one_line_error(run("export " + d + "/run " + d + "/out --adapter", tmp), "already exists");
  check_one_line_error(run("eval " + d + "/model --adapter " + d + "/nothing" + eval, tmp),
                       "adapter_config.json: missing");
  check_one_line_error(
      run("eval " + d + "/run --adapter " + d + "/out --data " + d + "/train.jsonl", tmp),
      "own adapters");
  auto variant = [&](const std::string& name, const std::string& config) {
    const std::string dir = d + "/" + name;
    std::filesystem::create_directory(dir);
    std::filesystem::copy_file(d + "/out/adapter_model.safetensors",
                               dir + "/adapter_model.safetensors");
    write_text(dir + "/adapter_config.json", config);
    return run("eval " + d + "/model --adapter " + dir + eval, tmp);
  };
  std::string text = slurp(d + "/out/adapter_config.json");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  check_one_line_error(variant("nomodule", with("\"down_proj\"", "\"fc9\"")),
                       "'fc9' names no linear layer");
  check_one_line_error(variant("fewer", with(",\n    \"down_proj\"", "")),
                       "belongs to no adapted module");
  check_one_line_error(variant("rank", with("\"r\": 4", "\"r\": 8")), "has shape [4, ");
  check_one_line_error(variant("notlora", with("\"LORA\"", "\"IA3\"")), "peft_type");
  std::filesystem::create_directory(d + "/noweights");
  write_text(d + "/noweights/adapter_config.json", text);
  check_one_line_error(run("eval " + d + "/model --adapter " + d + "/noweights" + eval, tmp),
                       "adapter_model.safetensors: missing");

  // A run without adapters has none to export.
  REQUIRE(run("tune " + d + "/model --task lm --data " + d + "/train.jsonl --out " + d +
                  "/plain --steps 1 --batch 4 --quiet",
              tmp)
              .status == 0);
  check_one_line_error(run("export " + d + "/plain " + d + "/plain-out --adapter", tmp),
                       "not tuned with --lora");
  CHECK_FALSE(std::filesystem::exists(d + "/plain-out"));
}

// A RoBERTa prompt classifier: PEFT has no task type for it (null); BASE + adapter gives the run's
// accuracy and loss digit for digit; an adapter tensor of another dtype is refused.
TEST_CASE("cli: a RoBERTa LoRA run exports with task_type null and evaluates as the run") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string d = tmp.path();
  REQUIRE(run("init --arch roberta --shape tiny --seed 2 " + d + "/model", tmp).status == 0);
  {
    std::ofstream out(d + "/c.jsonl");
    for (int i = 0; i < 8; ++i)
      out << "{\"sentence\": \"the film was good " << i << "\", \"label\": " << i % 2 << "}\n";
  }
  const std::string task = " --template '{sentence} It was<mask>.' --labels ' the| a'";
  Result r = run("tune " + d + "/model --data " + d + "/c.jsonl --out " + d +
                     "/run --lora 2 --steps 3 --batch 4 "
                     "--lr 1e-2 --eps 1e-2 --quiet" +
                     task,
                 tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  REQUIRE(run("export " + d + "/run " + d + "/out --adapter", tmp).status == 0);
  const nlohmann::json c = nlohmann::json::parse(slurp(d + "/out/adapter_config.json"));
  CHECK(c["task_type"].is_null());
  CHECK(c["target_modules"] == nlohmann::json::array({"query", "value"}));
  const Result via_run = run("eval " + d + "/run --data " + d + "/c.jsonl --json --quiet", tmp);
  const Result via_adapter = run(
      "eval " + d + "/model --adapter " + d + "/out --data " + d + "/c.jsonl --json --quiet" + task,
      tmp);
  REQUIRE_MESSAGE(via_adapter.status == 0, via_adapter.err);
  CHECK(via_adapter.out == via_run.out);
  // The same tensors as I32: not an adapter pocket (or PEFT) computes with.
  const SafetensorsFile file(d + "/out/adapter_model.safetensors");
  std::filesystem::create_directory(d + "/ints");
  std::filesystem::copy_file(d + "/out/adapter_config.json", d + "/ints/adapter_config.json");
  std::vector<TensorSpec> specs;
  for (const TensorView& t : file.tensors()) specs.push_back({t.name, Dtype::kI32, t.shape});
  write_safetensors(d + "/ints/adapter_model.safetensors", specs, {},
                    [&](std::size_t i, std::uint8_t* dst, std::size_t n) {
                      std::memcpy(dst, file.tensors()[i].data, n);
                    });
  check_one_line_error(
      run("eval " + d + "/model --adapter " + d + "/ints --data " + d + "/c.jsonl" + task, tmp),
      "is I32, not F32, F16 or BF16");
}

}  // namespace pocket
