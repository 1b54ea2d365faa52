#include "zo/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/tokenizer.h"
#include "io/memory_stats.h"
#include "zo/crash_point.h"
#include "task/data_order.h"
#include "zo/journal.h"
#include "zo/run_dir.h"
#include "zo/run_log.h"
#include "zo/snapshot.h"
#include "zo/zo_step.h"

namespace pocket {

namespace fs = std::filesystem;

namespace {

// Train-loss EMA: smooth enough to read a trend through MeZO's noisy per-batch losses.
constexpr double kEmaAlpha = 0.05;

std::string eval_text(const Task& task, const EvalResult& r) {
  char text[160];
  if (task.options.kind == TaskKind::kLm) {
    std::snprintf(text, sizeof text, "loss %.4f, perplexity %.2f (%lld target tokens)", r.loss,
                  std::exp(r.loss), static_cast<long long>(r.targets));
  } else {
    std::snprintf(text, sizeof text, "accuracy %.3f (%lld/%lld), loss %.4f", r.accuracy(),
                  static_cast<long long>(r.correct), static_cast<long long>(r.examples), r.loss);
  }
  return text;
}

}  // namespace

TuneSummary tune_run(const std::string& run_dir, const TuneEvents& events) {
  const RunConfig config = load_run_config(run_dir);
  check_run_data(config);
  auto say = [&](const std::string& line) {
    if (events.on_message) events.on_message(line);
  };
  // The base mapped copy-on-write (or read-only for LoRA alone): updates live in this process's
  // memory, never in its files.
  const std::unique_ptr<Model> base = open_run_model(config);
  Model& model = *base;
  check_run_base(config, model);
  const auto tokenizer = load_tokenizer(config.base_model, model.config().model_type);
  const Task task = make_task(config.task, *tokenizer, model.config());
  const Dataset train = load_dataset(config.train_data, task, *tokenizer);
  Dataset eval;
  const bool has_eval = !config.eval_data.empty();
  if (has_eval) eval = load_dataset(config.eval_data, task, *tokenizer);
  for (const Dataset* d : {&train, static_cast<const Dataset*>(&eval)}) {
    if (d->truncated > 0) {
      say(d->path + ": " + std::to_string(d->truncated) + " example(s) cut from the left of '" +
          config.task.text_field + "' to fit --max-len " + std::to_string(config.task.max_len));
    }
  }
  const std::int64_t n_train = static_cast<std::int64_t>(train.examples.size());
  const std::int64_t batch = std::min(config.batch, n_train);
  if (batch < config.batch) {
    say("--batch " + std::to_string(config.batch) + " is more than the " + std::to_string(n_train) +
        " training examples: batches of " + std::to_string(batch));
  }
  ZoTuner tuner(model, task, config.zo, batch, std::max(train.longest, eval.longest));

  Journal journal(run_journal_path(run_dir));
  if (journal.dropped_tail() > 0) {
    say("journal.bin: dropped a torn last record (" + std::to_string(journal.dropped_tail()) +
        " bytes) left by a crash");
  }
  Restored restored;
  if (!journal.records().empty()) restored = restore_run(run_dir, config, tuner, journal.records(), say);
  const std::int64_t start = restored.step;
  std::int64_t snapshotted = restored.snapshot_step;

  TuneSummary summary;
  summary.first_step = start;
  summary.has_eval = has_eval;
  summary.arena_bytes = tuner.session().arena_bytes();
  summary.weight_bytes = model.params().matrix_bytes();
  RunLog log(run_dir, start);
  const std::string title = "pocket tune: " + fs::path(config.base_model).filename().string() +
                            " on " + fs::path(config.train_data).filename().string();
  const char* metric = task.options.kind == TaskKind::kLm ? "loss" : "accuracy";
  auto eval_point = [&](std::int64_t t) {
    const EvalResult r = tuner.evaluate(eval);
    log.eval({t, task.options.kind == TaskKind::kLm ? r.loss : r.accuracy(), metric});
    if (events.on_eval) events.on_eval(t, r);
    return r;
  };
  if (start == 0) {
    log.event(nlohmann::json{{"event", "start"}, {"run_id", config.run_id}, {"steps", config.steps}}
                  .dump());
    if (has_eval) {
      summary.eval_before = eval_point(0);
      say("before tuning, " + fs::path(config.eval_data).filename().string() + ": " +
          eval_text(task, summary.eval_before));
    }
  } else {
    log.event(nlohmann::json{{"event", "resume"}, {"step", start}}.dump());
    say("resuming " + run_dir + " after step " + std::to_string(start) + " of " +
        std::to_string(config.steps));
  }

  double ema = log.train_points().empty() ? 0.0 : log.train_points().back().loss_ema;
  bool ema_started = !log.train_points().empty();
  // A crash between the journal append and the log line loses that line: the journal has it.
  const std::int64_t logged = log.train_points().empty() ? 0 : log.train_points().back().step;
  for (const JournalRecord& r : journal.records()) {
    if (static_cast<std::int64_t>(r.step) <= logged) continue;
    const bool accepted = r.status == StepStatus::kAccepted;
    const double loss = 0.5 * (r.loss_plus + r.loss_minus);
    if (accepted) {
      ema = ema_started ? (1.0 - kEmaAlpha) * ema + kEmaAlpha * loss : loss;
      ema_started = true;
    }
    log.train({static_cast<std::int64_t>(r.step), loss, ema, !accepted});
  }
  // Eval points: every eval_every steps and after the last. A crash between a step's log line and
  // its eval loses the eval; only the last journalled step can be in that state: do it now.
  auto eval_due = [&](std::int64_t t) {
    return has_eval && ((config.eval_every > 0 && t % config.eval_every == 0) || t == config.steps);
  };
  if (start > 0 && eval_due(start) &&
      (log.eval_points().empty() || log.eval_points().back().step != start)) {
    const EvalResult e = eval_point(start);
    if (start == config.steps) summary.eval_after = e;
  }
  DataOrder order(n_train, config.seed);
  std::vector<std::int64_t> index(static_cast<std::size_t>(batch));
  {
    if (events.on_begin) events.on_begin(start + 1, config.steps);
    const auto began = std::chrono::steady_clock::now();
    for (std::int64_t t = start + 1; t <= config.steps; ++t) {
      order.batch(t, batch, index.data());
      const std::uint64_t seed = step_seed(config.seed, t);
      const float lr = step_lr(config, t);
      const StepResult r = tuner.probe(train, index.data(), batch, seed);
      JournalRecord record;
      record.step = static_cast<std::uint64_t>(t);
      record.seed = seed;
      record.g = r.g;
      record.lr = lr;
      record.loss_plus = r.loss_plus;
      record.loss_minus = r.loss_minus;
      record.status = r.accepted ? StepStatus::kAccepted : StepStatus::kRejected;
      crash_point("journal", t);
      journal.append(record, config.fsync == FsyncPolicy::kEveryStep);
      const double loss = 0.5 * (r.loss_plus + r.loss_minus);
      if (r.accepted) {
        tuner.set_crash_step(t);
        tuner.apply_update(seed, r.g, lr);
        ema = ema_started ? (1.0 - kEmaAlpha) * ema + kEmaAlpha * loss : loss;
        ema_started = true;
      } else {
        ++summary.rejected;
        char text[200];
        std::snprintf(text, sizeof text,
                      "step %lld rejected: L+ = %g, L- = %g (not finite); weights untouched",
                      static_cast<long long>(t), r.loss_plus, r.loss_minus);
        say(text);
      }
      log.train({t, loss, ema, !r.accepted});
      if (events.on_step) events.on_step(t, ema, r.accepted);
      if (t % config.snapshot_every == 0 || t == config.steps) {
        journal.sync();  // a snapshot never gets ahead of the durable journal
        write_run_snapshot(run_dir, t, config, tuner);
        snapshotted = t;
        if (events.on_snapshot) events.on_snapshot(t);
        log.plot(title);
      }
      if (eval_due(t) && t != config.steps) {
        const EvalResult e = eval_point(t);
        say("step " + std::to_string(t) + ", eval: " + eval_text(task, e));
      }
    }
    if (events.on_end) events.on_end();
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  }
  summary.last_step = config.steps;
  if (has_eval && start < config.steps) {
    summary.eval_after = eval_point(config.steps);
    say("after tuning, " + fs::path(config.eval_data).filename().string() + ": " +
        eval_text(task, summary.eval_after));
  }
  // A clean exit leaves the last step's snapshot: the tuned model for eval and export without a
  // replay (a crash after the last journal record and before its snapshot left none).
  journal.sync();
  if (snapshotted != config.steps) {
    write_run_snapshot(run_dir, config.steps, config, tuner);
    if (events.on_snapshot) events.on_snapshot(config.steps);
  }
  log.event(nlohmann::json{{"event", "end"}, {"step", config.steps}}.dump());
  log.plot(title);
  summary.peak_rss = peak_rss_bytes();
  return summary;
}

}  // namespace pocket
