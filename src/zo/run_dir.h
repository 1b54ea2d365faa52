// A tuning run's directory (DESIGN.md, "Run directory"):
//
//   RUN/meta.json         format, run id, base model path + fingerprint, data, every hyper-parameter
//   RUN/model/            the working copy: config, tokenizer files, model.safetensors. A tuning
//                         process maps it copy-on-write: updates live in its memory and are
//                         written to the file only at a clean exit (never per step)
//   RUN/journal.bin       one checksummed record per step (journal.h)
//   RUN/snap-<t>.safetensors   the trainable tensors (and fp32 masters) after step t (snapshot.h)
//   RUN/state.json        {"step": t} when the working copy is known to equal the state after step t
//                         (written at a clean exit, removed before the first update of a process)
//   RUN/log.jsonl, loss.csv, loss.svg   (run_log.h)
//
// The working copy is a cache: after a crash it may hold half an update. restore_run() rebuilds
// it from the newest valid snapshot (or the base model) and the journal's updates after it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "zo/journal.h"
#include "task/task.h"
#include "zo/zo_step.h"

namespace pocket {

enum class Schedule { kConstant, kLinear };

struct RunConfig {
  std::string run_id;           // 16 hex digits
  std::string base_model;       // absolute path of the base model directory
  std::string base_fingerprint; // model_fingerprint() of the base at creation
  std::string train_data, eval_data;  // absolute paths (eval may be empty)
  std::string train_fingerprint, eval_fingerprint;  // file_fingerprint() at creation
  TaskOptions task;
  ZoOptions zo;
  double lr = 1e-6;
  Schedule schedule = Schedule::kConstant;
  std::int64_t batch = 16;
  std::int64_t steps = 1000;
  std::uint64_t seed = 0;
  std::int64_t snapshot_every = 100;
  std::int64_t eval_every = 0;  // 0: evaluate before the first and after the last step only
  FsyncPolicy fsync = FsyncPolicy::kAtSnapshots;
};

inline constexpr int kRunFormatVersion = 1;

std::string run_config_json(const RunConfig& config);
// meta.json of `run_dir`; a missing file, bad JSON or a wrong format version is a one-line error.
RunConfig load_run_config(const std::string& run_dir);
bool is_run_dir(const std::string& path);  // has a meta.json
std::string run_model_dir(const std::string& run_dir);  // RUN/model

// s_t = z_word(run_seed, t) and lr_t (src/zo/README.md).
std::uint64_t step_seed(std::uint64_t run_seed, std::int64_t t);
float step_lr(const RunConfig& config, std::int64_t t);

// Throws pocket::Error naming the file when a run's data file changed since it was created.
void check_run_data(const RunConfig& config);

// Creates RUN atomically: built in a temporary sibling directory (meta.json, model/ as a converted
// copy of the base) and renamed to RUN. RUN must not exist (or be an empty directory).
void create_run(const std::string& run_dir, const RunConfig& config,
                const std::function<void(const std::string&)>& say);

// Brings the working copy of a run (opened writable in `tuner`) to the state after the journal's
// last record: trainable tensors and masters from the newest valid snapshot whose step is in the
// journal (or from the base model), then the journal's accepted updates after it. Returns the
// step reached (0: none). `say` gets one line per thing worth knowing (snapshot used, replayed
// steps, rejected snapshots).
std::int64_t restore_run(const std::string& run_dir, const RunConfig& config, ZoTuner& tuner,
                         const std::vector<JournalRecord>& records,
                         const std::function<void(const std::string&)>& say);

// state.json: the step the working copy is known to hold, or -1 (absent or unreadable).
std::int64_t read_clean_state(const std::string& run_dir);
void write_clean_state(const std::string& run_dir, std::int64_t step);
void clear_clean_state(const std::string& run_dir);

}  // namespace pocket
