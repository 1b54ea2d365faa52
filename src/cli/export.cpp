// pocket export: the tuned model of a run as a Hugging Face directory (config, tokenizer files,
// one F16 model.safetensors), loadable by pocket and by transformers.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "io/convert.h"
#include "io/error.h"
#include "zo/run_dir.h"
#include "zo/trainer.h"

namespace pocket {

int cmd_export(int argc, char** argv) {
  std::string run_dir, out_dir;
  std::int64_t threads = 0;
  Args args("pocket export RUN OUT_DIR",
            "Writes the tuned model of a `pocket tune` run (after its last journalled step) to\n"
            "OUT_DIR as a Hugging Face model directory. OUT_DIR must not exist; it appears whole\n"
            "or not at all.");
  args.positional("RUN", &run_dir, "run directory");
  args.positional("OUT_DIR", &out_dir, "directory to create");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  load_run_config(run_dir);
  const std::int64_t step = settle_run(run_dir, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  create_directory_atomic(out_dir, [&](const std::string& temp) {
    convert_checkpoint(run_model_dir(run_dir), temp);
  });
  std::fprintf(stderr, "exported %s after step %lld to %s\n", run_dir.c_str(),
               static_cast<long long>(step), out_dir.c_str());
  return 0;
}

}  // namespace pocket
