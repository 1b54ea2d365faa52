// pocket eval: accuracy (classification) or loss and perplexity (lm) of a model directory or of
// a tuning run's current model, on a JSONL file.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/args.h"
#include "cli/side_flag.h"
#include "cli/commands.h"
#include "cli/task_flags.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "io/memory_stats.h"
#include "model/lora_adapter.h"
#include "model/model.h"
#include "task/evaluate.h"
#include "zo/run_dir.h"
#include "zo/run_state.h"

namespace pocket {

int cmd_eval(int argc, char** argv) {
  std::string target, data, side, adapter;
  TaskFlags task;
  std::int64_t batch = 16, threads = 0;
  bool json = false, quiet = false;
  Args args("pocket eval MODEL_OR_RUN --data FILE.jsonl [task options]",
            "Evaluates a model directory, or a run directory of `pocket tune` (its tuned model and,\n"
            "unless overridden, its task settings): accuracy for classification, loss and\n"
            "perplexity for lm. Peak RSS is reported for comparing with `pocket tune`.");
  args.positional("MODEL_OR_RUN", &target, "model directory, GGUF file or run directory");
  args.option("--data", &data, "examples, JSONL");
  task.declare(args);
  args.option("--batch", &batch, "examples per forward");
  args.option("--side", &side, "a side network from `pocket side-tune` (RUN/side.safetensors) "
                               "run alongside the model");
  args.flag("--json", &json, "print the result as one JSON object on stdout");
  args.flag("--quiet", &quiet, "only the result");
  args.option("--adapter", &adapter, "a PEFT LoRA adapter directory (adapter_config.json, "
                                     "adapter_model.safetensors) applied without merging");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  if (data.empty()) throw Error("--data", "the examples to evaluate are required (JSONL)");
  if (batch < 1) throw Error("--batch", "must be at least 1");

  std::string model_dir = target;
  TaskOptions options = task.parse();
  // A run's tuned model: its base mapped copy-on-write with the run's trained tensors.
  std::unique_ptr<RunState> run;
  std::unique_ptr<Model> plain;
  if (is_run_dir(target)) {
    if (!adapter.empty()) {
      throw Error("--adapter", "a run directory has its own adapters; give the base model");
    }
    run = std::make_unique<RunState>(target, [&](const std::string& line) {
      if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
    });
    options = task.override(args, run->config().task);
    model_dir = run->config().base_model;
  } else {
    plain = std::make_unique<Model>(model_dir);
    if (!adapter.empty()) load_lora_adapter(*plain, adapter);
  }
  const Model& model = run ? run->model() : *plain;
  const auto tokenizer = load_tokenizer(model_dir, model.config().model_type);
  const Task t = make_task(options, *tokenizer, model.config());
  const Dataset examples = load_dataset(data, t, *tokenizer);
  if (examples.truncated > 0 && !quiet) {
    std::fprintf(stderr, "%s: %lld example(s) cut from the left of '%s' to fit --max-len %lld\n",
                 data.c_str(), static_cast<long long>(examples.truncated),
                 options.text_field.c_str(), static_cast<long long>(options.max_len));
  }
  const std::int64_t n = static_cast<std::int64_t>(examples.examples.size());
  Evaluator evaluator(model, t, std::min(batch, n), examples.longest);
  std::unique_ptr<SideRunner> side_runner;
  if (!side.empty()) {
    const SessionLimits& limits = evaluator.session().limits();
    side_runner = std::make_unique<SideRunner>(load_side_for_model(side, model, side_checksum_hex(model)),
                                               limits.max_batch * limits.max_len);
    evaluator.session().set_observer(side_runner.get());
  }
  const auto started = std::chrono::steady_clock::now();
  const EvalResult r = evaluator.run(examples);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool lm = options.kind == TaskKind::kLm;
  if (json) {
    if (lm) {
      std::printf("{\"loss\": %.9g, \"perplexity\": %.9g, \"targets\": %lld, \"examples\": %lld}\n",
                  r.loss, std::exp(r.loss), static_cast<long long>(r.targets),
                  static_cast<long long>(r.examples));
    } else {
      std::printf("{\"accuracy\": %.9g, \"correct\": %lld, \"examples\": %lld, \"loss\": %.9g}\n",
                  r.accuracy(), static_cast<long long>(r.correct),
                  static_cast<long long>(r.examples), r.loss);
    }
  } else if (lm) {
    std::printf("loss %.4f  perplexity %.3f  (%lld target tokens in %lld examples)\n", r.loss,
                std::exp(r.loss), static_cast<long long>(r.targets),
                static_cast<long long>(r.examples));
  } else {
    std::printf("accuracy %.4f  (%lld/%lld)  loss %.4f\n", r.accuracy(),
                static_cast<long long>(r.correct), static_cast<long long>(r.examples), r.loss);
  }
  if (!quiet) {
    std::fprintf(stderr, "forward %.2f s for %lld examples (%.2f ms each); peak RSS %s (activation arena %s)\n",
                 seconds, static_cast<long long>(n), 1e3 * seconds / static_cast<double>(std::max<std::int64_t>(n, 1)),
                 format_bytes(peak_rss_bytes()).c_str(),
                 format_bytes(evaluator.session().arena_bytes()).c_str());
  }
  return 0;
}

}  // namespace pocket
