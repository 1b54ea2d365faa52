// pocket replay: a tuned model rebuilt from the base model and a run's journal alone (plus its
// meta.json): the whole fine-tune is the journal's 48 bytes per step.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "io/hash.h"
#include "model/model.h"
#include "zo/journal.h"
#include "zo/run_dir.h"
#include "zo/run_state.h"
#include "zo/zo_step.h"

namespace pocket {

int cmd_replay(int argc, char** argv) {
  std::string model_dir, run_dir, out_dir;
  std::int64_t threads = 0;
  Args args("pocket replay MODEL_DIR RUN OUT_DIR",
            "Rebuilds the tuned model of RUN from the base model MODEL_DIR by replaying every\n"
            "accepted update of RUN/journal.bin (seed, g, lr per step), without any forward pass\n"
            "or data. The result is bit-identical to `pocket export RUN`. OUT_DIR must not exist.");
  args.positional("MODEL_DIR", &model_dir, "the base model the run started from");
  args.positional("RUN", &run_dir, "run directory (meta.json and journal.bin are read)");
  args.positional("OUT_DIR", &out_dir, "directory to create");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  // meta.json and journal.bin are the same in format 1 (a run with a model copy) and 2.
  const RunConfig config = load_run_config(run_dir, /*oldest_version=*/1);
  const std::vector<JournalRecord> records = read_journal(run_journal_path(run_dir));
  Model model(model_dir, /*writable=*/true);
  if (model.fingerprint() != config.base_fingerprint) {
    throw Error(model_dir, "is not the base model of " + run_dir + " (fingerprint differs)");
  }
  const auto tokenizer = load_tokenizer(model_dir, model.config().model_type);
  const Task task = make_task(config.task, *tokenizer, model.config());
  ZoTuner tuner(model, task, config.zo, 1, config.task.max_len);
  std::int64_t replayed = 0;
  for (const JournalRecord& r : records) {
    if (r.status != StepStatus::kAccepted) continue;
    tuner.apply_update(r.seed, r.g, r.lr);
    ++replayed;
  }
  write_tuned_model(model, tuner, out_dir);
  std::fprintf(stderr, "replayed %lld update(s) of %zu journalled step(s) into %s\n",
               static_cast<long long>(replayed), records.size(), out_dir.c_str());
  return 0;
}

}  // namespace pocket
