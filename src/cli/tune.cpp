// pocket tune: zeroth-order (MeZO) fine-tuning into a crash-safe run directory (src/zo/).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/error.h"
#include "io/memory_stats.h"
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

// The run settings as flags (run_dir.h's visit): declared straight into the RunConfig where Args
// has the type, through text for the seed and the enumerated settings, converted by assign().
struct FlagDeclarer {
  Args& args;
  std::map<std::string, std::string> text;  // flag -> value, for the enumerated settings
  std::int64_t seed = 0;

  void operator()(const RunField& f, std::string& value) {
    if (*f.flag != '\0') args.option(f.flag, &value, f.help);
  }
  void operator()(const RunField& f, double& value) { args.option(f.flag, &value, f.help); }
  void operator()(const RunField& f, std::int64_t& value) { args.option(f.flag, &value, f.help); }
  void operator()(const RunField& f, std::vector<std::string>& value) {
    args.option(f.flag, &value, f.help);
  }
  void operator()(const RunField& f, std::uint64_t& value) {
    seed = static_cast<std::int64_t>(value);
    args.option(f.flag, &seed, f.help);
  }
  template <class T, std::size_t N>
  void operator()(const RunField& f, T& value, const Choice<T> (&names)[N]) {
    for (const Choice<T>& c : names) {
      if (c.value == value) text[f.flag] = c.name;
    }
    args.option(f.flag, &text[f.flag], f.help);
  }
};

// After parsing: the seed and the enumerated settings from their text, each error naming its flag.
struct FlagAssigner {
  const FlagDeclarer& flags;
  template <class T>
  void operator()(const RunField&, T&) {}
  void operator()(const RunField&, std::uint64_t& value) {
    value = static_cast<std::uint64_t>(flags.seed);
  }
  template <class T, std::size_t N>
  void operator()(const RunField& f, T& value, const Choice<T> (&names)[N]) {
    const std::string& name = flags.text.at(f.flag);
    std::string known;
    for (const Choice<T>& c : names) {
      if (name == c.name) {
        value = c.value;
        return;
      }
      known += (known.empty() ? "" : (&c == &names[N - 1] ? " or " : ", ")) + std::string(c.name);
    }
    throw Error(f.flag, "'" + name + "' is not " + known);
  }
};

// --resume: every run setting stays the one in meta.json.
struct ResumeRefuser {
  const Args& args;
  template <class T, class... Names>
  void operator()(const RunField& f, T&, const Names&...) {
    if (*f.flag != '\0' && args.given(f.flag)) {
      throw Error(f.flag, "a resumed run keeps the settings in its meta.json");
    }
  }
};

}  // namespace

int cmd_tune(int argc, char** argv) {
  std::string model_dir, out, resume;
  std::int64_t threads = 0;
  bool quiet = false;
  RunConfig c;
  Args args(
      "pocket tune MODEL_DIR --data TRAIN.jsonl [--eval DEV.jsonl] --out RUN [options]\n"
      "       pocket tune --resume RUN",
      "Fine-tunes a model with MeZO's zeroth-order steps: two perturbed forward passes\n"
      "per step (fused, weights never modified to evaluate), no gradients, no activation\n"
      "cache - the memory of inference. RUN gets a checksummed journal of every step,\n"
      "atomic snapshots of the trained tensors, log.jsonl, loss.csv and loss.svg (no copy\n"
      "of the model); a run killed at any moment continues with --resume and ends\n"
      "bit-identical.");
  args.positional("MODEL_DIR", &model_dir,
                  "base model directory (never written; not with --resume)",
                  /*optional=*/true);
  args.option("--out", &out, "run directory to create");
  args.option("--resume", &resume, "continue the run in this directory (its own settings)");
  FlagDeclarer flags{args, {}, 0};
  visit(c, flags);
  args.flag("--quiet", &quiet, "no progress output");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);

  std::string run_dir;
  if (args.given("--resume")) {
    ResumeRefuser refuser{args};
    visit(c, refuser);
    if (args.given("--out"))
      throw Error("--out", "a resumed run keeps the settings in its meta.json");
    if (!model_dir.empty())
      throw Error(model_dir, "a resumed run keeps the base model in its meta.json");
    run_dir = resume;
    load_run_config(run_dir);  // a clear error when it is not a run
  } else {
    if (model_dir.empty()) throw Error("MODEL_DIR", "missing (see --help)");
    if (c.train_data.empty()) throw Error("--data", "training data is required (JSONL)");
    if (out.empty()) throw Error("--out", "the run directory is required");
    FlagAssigner assigner{flags};
    visit(c, assigner);
    c.base_model = model_dir;
    create_run(out, c);
    run_dir = out;
  }

  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  std::unique_ptr<Progress> progress;
  TuneEvents events;
  // Lines during the steps go through the bar, so that it is cleared and redrawn around them.
  events.on_message = [&](const std::string& line) {
    if (progress) {
      progress->message(line);
    } else if (!quiet) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  events.on_begin = [&](std::int64_t first, std::int64_t total) {
    progress = std::make_unique<Progress>(total, first, quiet, stderr, terminal);
  };
  events.on_step = [&](std::int64_t step, double loss_ema, bool) {
    progress->update(step, loss_ema);
  };
  events.on_end = [&] {
    progress->finish();
    progress.reset();
  };
  const TuneSummary summary = tune_run(run_dir, events);
  if (!quiet) print_summary(summary, run_dir);
  return 0;
}

}  // namespace pocket
