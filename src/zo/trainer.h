// The tuning loop of `pocket tune`: a run directory from start (or from wherever a crash left it)
// to its last step. Per step t:
//
//   batch_t (data_order.h) -> probe: L+, L-, g (zo_step.h) -> journal record (journal.h)
//   -> update of the copy-on-write base model (unless rejected) -> log line, progress
//   every snapshot_every steps and at the end: journal fsync, snapshot (snapshot.h), loss.svg
//   every eval_every steps, before step 1 and after the last: eval on the held-out data
//
// The loop prints nothing: it reports through TuneEvents, which the CLI wires to a progress bar
// and stderr (and a C API or an MPI driver to whatever they need).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "task/evaluate.h"

namespace pocket {

// Every callback may be left empty.
struct TuneEvents {
  // One line worth showing a person (resume, restore, truncated examples, evals, rejections).
  std::function<void(const std::string& line)> on_message;
  // Before the first step of this process: the step it starts at (1-based) and the run's total.
  std::function<void(std::int64_t first, std::int64_t total)> on_begin;
  // After step t (accepted or rejected) with the train-loss EMA.
  std::function<void(std::int64_t step, double loss_ema, bool accepted)> on_step;
  // After the steps of this process, before the final evaluation.
  std::function<void()> on_end;
  // After the evaluation at step t (0: before tuning).
  std::function<void(std::int64_t step, const EvalResult& result)> on_eval;
  // After the snapshot of step t is durable.
  std::function<void(std::int64_t step)> on_snapshot;
};

struct TuneSummary {
  std::int64_t first_step = 0;  // steps done before this process started (resume)
  std::int64_t last_step = 0;
  std::int64_t rejected = 0;  // steps of this process rejected for a non-finite loss
  double seconds = 0.0;       // wall time of this process's steps
  bool has_eval = false;
  EvalResult eval_before, eval_after;  // eval_before only when the run started in this process
  std::uint64_t peak_rss = 0;
  std::size_t arena_bytes = 0;
  std::uint64_t weight_bytes = 0;
};

// Runs the run in `run_dir` (created by create_run, or interrupted anywhere) to its last step and
// ends with a snapshot of that step.
TuneSummary tune_run(const std::string& run_dir, const TuneEvents& events);

}  // namespace pocket
