// pocket tune: zeroth-order (MeZO) fine-tuning into a crash-safe run directory (src/zo/).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_flags.h"
#include "io/error.h"
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "io/memory_stats.h"
#include "io/hash.h"
#include "model/model.h"
#include "model/model_weights.h"
#include "task/task.h"
#include "zo/zo_step.h"
#include "kernels/zrng.h"
#include "zo/progress.h"
#include "zo/run_dir.h"
#include "zo/trainer.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;

void print_summary(const TuneSummary& s, const std::string& run_dir) {
  const std::int64_t steps = s.last_step - s.first_step;
  std::fprintf(stderr, "tuned %lld step(s) in %.1f s (%.2f steps/s)%s\n",
               static_cast<long long>(steps), s.seconds, steps > 0 ? steps / s.seconds : 0.0,
               s.rejected > 0 ? (", " + std::to_string(s.rejected) + " rejected").c_str() : "");
  std::fprintf(stderr, "peak RSS %s: mapped weights %s, activation arena %s, the rest %s\n",
               format_bytes(s.peak_rss).c_str(), format_bytes(s.weight_bytes).c_str(),
               format_bytes(s.arena_bytes).c_str(),
               format_bytes(s.peak_rss > s.weight_bytes + s.arena_bytes
                                ? s.peak_rss - s.weight_bytes - s.arena_bytes
                                : 0)
                   .c_str());
  std::fprintf(stderr, "run: %s  (plot: %s)\n", run_dir.c_str(),
               (fs::path(run_dir) / "loss.svg").string().c_str());
}

}  // namespace

int cmd_tune(int argc, char** argv) {
  std::string model_dir, data, eval_data, out, resume, schedule = "constant", master = "f16";
  std::string fsync = "snapshot";
  std::vector<std::string> train_patterns;
  TaskFlags task;
  RunConfig c;
  double lr = c.lr, eps = c.zo.eps, weight_decay = 0.0;
  std::int64_t batch = c.batch, steps = c.steps, seed = 0, snapshot_every = c.snapshot_every;
  std::int64_t eval_every = 0, threads = 0;
  bool quiet = false;
  Args args("pocket tune MODEL_DIR --data TRAIN.jsonl [--eval DEV.jsonl] --out RUN [options]\n"
            "       pocket tune --resume RUN",
            "Fine-tunes a model with MeZO's zeroth-order steps: two perturbed forward passes\n"
            "per step (fused, weights never modified to evaluate), no gradients, no activation\n"
            "cache - the memory of inference. RUN gets a working copy of the model, a checksummed\n"
            "journal of every step, atomic snapshots, log.jsonl, loss.csv and loss.svg; a run\n"
            "killed at any moment continues with --resume and ends bit-identical.");
  args.positional("MODEL_DIR", &model_dir, "base model directory (never written; not with --resume)",
                  /*optional=*/true);
  args.option("--data", &data, "training examples, JSONL");
  args.option("--eval", &eval_data, "held-out examples, JSONL: evaluated before, during, after");
  args.option("--out", &out, "run directory to create");
  args.option("--resume", &resume, "continue the run in this directory (its own settings)");
  task.declare(args);
  args.option("--lr", &lr, "learning rate");
  args.option("--eps", &eps, "perturbation scale epsilon");
  args.option("--batch", &batch, "examples per step");
  args.option("--steps", &steps, "steps of the run");
  args.option("--weight-decay", &weight_decay, "weight decay (not on biases and norms)");
  args.option("--schedule", &schedule, "learning rate schedule: constant or linear (to 0)");
  args.option("--seed", &seed, "run seed: data order and every perturbation");
  args.option("--master", &master, "f16: stochastic-rounded fp16 updates; f32: an fp32 master copy");
  args.option("--train", &train_patterns,
              "glob over tensor names to train (repeatable); the rest is frozen. Default: all");
  args.option("--snapshot-every", &snapshot_every, "steps between snapshots");
  args.option("--eval-every", &eval_every, "steps between evaluations (0: before and after only)");
  args.option("--fsync", &fsync, "journal fsync: step, snapshot or never");
  args.flag("--quiet", &quiet, "no progress output");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  const bool resuming = args.given("--resume");
  apply_threads(threads);
  TuneUi ui;
  ui.quiet = quiet;
  ui.out = stderr;
  ui.terminal = ::isatty(STDERR_FILENO) != 0;

  std::string run_dir;
  if (resuming) {
    for (const char* flag : {"--data", "--eval", "--out", "--lr", "--eps", "--batch", "--steps",
                             "--seed", "--master", "--train", "--schedule", "--weight-decay",
                             "--task", "--template", "--labels", "--max-len"}) {
      if (args.given(flag)) {
        throw Error(flag, "a resumed run keeps the settings in its meta.json");
      }
    }
    if (!model_dir.empty()) throw Error(model_dir, "a resumed run keeps the base model in its meta.json");
    run_dir = resume;
    load_run_config(run_dir);  // a clear error when it is not a run
  } else {
    if (model_dir.empty()) throw Error("MODEL_DIR", "missing (see --help)");
    if (data.empty()) throw Error("--data", "training data is required (JSONL)");
    if (out.empty()) throw Error("--out", "the run directory is required");
    if (!(lr > 0)) throw Error("--lr", "must be positive");
    if (!(eps > 0)) throw Error("--eps", "must be positive");
    if (batch < 1) throw Error("--batch", "must be at least 1");
    if (steps < 1) throw Error("--steps", "must be at least 1");
    if (snapshot_every < 1) throw Error("--snapshot-every", "must be at least 1");
    if (eval_every < 0) throw Error("--eval-every", "must be >= 0");
    if (weight_decay < 0) throw Error("--weight-decay", "must be >= 0");
    if (schedule != "constant" && schedule != "linear") {
      throw Error("--schedule", "'" + schedule + "' is not constant or linear");
    }
    if (master != "f16" && master != "f32") throw Error("--master", "'" + master + "' is not f16 or f32");
    if (fsync != "step" && fsync != "snapshot" && fsync != "never") {
      throw Error("--fsync", "'" + fsync + "' is not step, snapshot or never");
    }
    for (const std::string& path : {data, eval_data}) {
      std::error_code error;
      if (!path.empty() && !fs::is_regular_file(path, error)) throw Error(path, "no such file");
    }
    c.base_model = absolute_path(model_dir);
    c.train_data = absolute_path(data);
    c.eval_data = eval_data.empty() ? "" : absolute_path(eval_data);
    c.train_fingerprint = file_fingerprint(c.train_data);
    c.eval_fingerprint = file_fingerprint(c.eval_data);
    c.task = task.parse();
    c.zo.eps = eps;
    c.zo.weight_decay = weight_decay;
    c.zo.master_f32 = master == "f32";
    c.zo.train_patterns = train_patterns;
    c.lr = lr;
    c.schedule = schedule == "linear" ? Schedule::kLinear : Schedule::kConstant;
    c.batch = batch;
    c.steps = steps;
    c.seed = static_cast<std::uint64_t>(seed);
    c.snapshot_every = snapshot_every;
    c.eval_every = eval_every;
    c.fsync = fsync == "step" ? FsyncPolicy::kEveryStep
                              : (fsync == "never" ? FsyncPolicy::kNever : FsyncPolicy::kAtSnapshots);
    {
      // Everything that can be wrong with the inputs is found before the run directory exists:
      // the model, the task against its tokenizer, every line of the data, the --train patterns.
      const Model base(c.base_model);
      const auto tokenizer = load_tokenizer(c.base_model, base.config().model_type);
      const Task t = make_task(c.task, *tokenizer, base.config());
      load_dataset(c.train_data, t, *tokenizer);
      if (!c.eval_data.empty()) load_dataset(c.eval_data, t, *tokenizer);
      if (!c.zo.train_patterns.empty()) {
        bool any = false;
        for (const TensorSpec& spec : model_tensor_specs(base.config())) {
          for (const std::string& pattern : c.zo.train_patterns) any = any || glob_match(pattern, spec.name);
        }
        if (!any) {
          std::string list;
          for (const std::string& pattern : c.zo.train_patterns) list += " '" + pattern + "'";
          throw Error("--train", "no tensor of the model matches" + list);
        }
      }
      c.base_fingerprint = model_fingerprint(base.checkpoint());
    }
    const auto now = std::chrono::system_clock::now().time_since_epoch().count();
    char id[17];
    std::snprintf(id, sizeof id, "%016llx",
                  static_cast<unsigned long long>(mix64(static_cast<std::uint64_t>(now) ^
                                                        (static_cast<std::uint64_t>(::getpid()) << 32) ^ c.seed)));
    c.run_id = id;
    create_run(out, c, [&](const std::string& line) {
      if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
    });
    run_dir = out;
  }
  const TuneSummary summary = tune_run(run_dir, ui);
  if (!quiet) print_summary(summary, run_dir);
  return 0;
}

}  // namespace pocket
