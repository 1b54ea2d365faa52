// The tuning loop of `pocket tune`: a run directory from start (or from wherever a crash left it)
// to its last step. Per step t:
//
//   batch_t (data_order.h) -> probe: L+, L-, g (zo_step.h) -> journal record (journal.h)
//   -> update of the working copy (unless rejected) -> log line, progress
//   every snapshot_every steps and at the end: journal fsync, snapshot (snapshot.h), loss.svg
//   every eval_every steps, before step 1 and after the last: eval on the held-out data
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "task/evaluate.h"

namespace pocket {

struct TuneUi {
  bool quiet = false;
  std::FILE* out = stderr;
  bool terminal = false;  // out is a terminal: a redrawn progress bar instead of plain lines
};

struct TuneSummary {
  std::int64_t first_step = 0;   // steps done before this process started (resume)
  std::int64_t last_step = 0;
  std::int64_t rejected = 0;     // steps of this process rejected for a non-finite loss
  double seconds = 0.0;          // wall time of this process's steps
  bool has_eval = false;
  EvalResult eval_before, eval_after;  // eval_before only when the run started in this process
  std::uint64_t peak_rss = 0;
  std::size_t arena_bytes = 0;
  std::uint64_t weight_bytes = 0;
};

// Makes the working copy of a run equal the state after its journal's last step when it is not
// known to be (a crash, or a tune still running elsewhere is not detected: do not eval a run
// while it is being tuned). Returns that step. `say` gets one line per thing done.
std::int64_t settle_run(const std::string& run_dir,
                        const std::function<void(const std::string&)>& say);

// Runs the run in `run_dir` (created by create_run, or interrupted anywhere) to its last step.
TuneSummary tune_run(const std::string& run_dir, const TuneUi& ui);

}  // namespace pocket
