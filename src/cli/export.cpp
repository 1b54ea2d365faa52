// pocket export: the tuned model of a run as a Hugging Face directory (config, tokenizer files,
// one F16 model.safetensors), loadable by pocket and by transformers; or a LoRA run's adapters
// as PEFT writes them (--adapter).
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "zo/run_state.h"

namespace pocket {

int cmd_export(int argc, char** argv) {
  std::string run_dir, out_dir;
  std::int64_t threads = 0;
  bool adapter = false;
  Args args("pocket export RUN OUT_DIR [--adapter]",
            "Writes the tuned model of a `pocket tune` run (after its last journalled step: the\n"
            "base model with the run's trained tensors) to OUT_DIR as a Hugging Face model\n"
            "directory; with --adapter, a LoRA run's adapters as a PEFT adapter directory\n"
            "(adapter_model.safetensors, adapter_config.json). OUT_DIR must not exist; it\n"
            "appears whole or not at all.");
  args.positional("RUN", &run_dir, "run directory");
  args.positional("OUT_DIR", &out_dir, "directory to create");
  args.flag("--adapter", &adapter, "write the LoRA adapters (PEFT layout), not a merged model");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  const RunState state(run_dir,
                       [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  if (adapter) {
    state.write_adapter(out_dir);
  } else {
    state.write_model(out_dir);
  }
  std::fprintf(stderr, "exported %s after step %lld to %s\n", run_dir.c_str(),
               static_cast<long long>(state.step()), out_dir.c_str());
  return 0;
}

}  // namespace pocket
