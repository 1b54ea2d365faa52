// A tuning run's directory (DESIGN.md, "Run directory"), format 2:
//
//   RUN/meta.json         format, run id, base model path + fingerprint, data, every
//                         hyper-parameter
//   RUN/journal.bin       one checksummed record per step (journal.h)
//   RUN/snap-<t>.safetensors   the trainable tensors (and fp32 masters) after step t (snapshot.h);
//                         the last two are kept, and a clean exit leaves one of the last step
//   RUN/log.jsonl, loss.csv, loss.svg   (run_log.h)
//
// There is no copy of the model in a run: every process that needs the tuned model (tune, eval,
// export) maps the base model copy-on-write (updates live only in its memory) and restores the
// trainable tensors from the newest valid snapshot and the journal (restore_run). The base
// fingerprint in meta.json guards against a base that changed. A run of OPT-1.3B is megabytes.
//
// Format 1 (older pocket) kept a working copy in RUN/model and a state.json marking it clean;
// its meta.json and journal.bin are those of format 2, so `pocket replay` still reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "task/task.h"
#include "zo/journal.h"
#include "zo/zo_step.h"

namespace pocket {

enum class Schedule { kConstant, kLinear };

struct RunConfig {
  std::string run_id;                               // 16 hex digits
  std::string base_model;                           // absolute path of the base model directory
  std::string base_fingerprint;                     // model_fingerprint() of the base at creation
  std::string train_data, eval_data;                // absolute paths (eval may be empty)
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

inline constexpr int kRunFormatVersion = 2;

// One field of RunConfig: its place in meta.json (a JSON pointer) and, for the settings `pocket
// tune` takes from its command line, the flag and its help ("" for what the run records itself).
struct RunField {
  const char* key;
  const char* flag = "";
  const char* help = "";
};

// An enumerated setting's values and their names in meta.json and on the command line.
template <class T>
struct Choice {
  T value;
  const char* name;
};
inline constexpr Choice<TaskKind> kTaskKinds[] = {{TaskKind::kClassification, "classification"},
                                                  {TaskKind::kLm, "lm"}};
inline constexpr Choice<bool> kMasterKinds[] = {{false, "f16"}, {true, "f32"}};
inline constexpr Choice<Schedule> kSchedules[] = {{Schedule::kConstant, "constant"},
                                                  {Schedule::kLinear, "linear"}};
inline constexpr Choice<FsyncPolicy> kFsyncPolicies[] = {{FsyncPolicy::kEveryStep, "step"},
                                                         {FsyncPolicy::kAtSnapshots, "snapshot"},
                                                         {FsyncPolicy::kNever, "never"}};

// Every field of a RunConfig, each listed once: v(field, value) for strings, numbers and lists,
// v(field, value, names) for enumerated settings. meta.json is written and read through it, and
// `pocket tune` declares its flags and refuses them on --resume through it.
template <class Visitor>
void visit(RunConfig& c, Visitor& v) {
  v(RunField{"/run_id"}, c.run_id);
  v(RunField{"/base_model"}, c.base_model);
  v(RunField{"/base_fingerprint"}, c.base_fingerprint);
  v(RunField{"/train_data", "--data", "training examples, JSONL"}, c.train_data);
  v(RunField{"/eval_data", "--eval", "held-out examples, JSONL: evaluated before, during, after"},
    c.eval_data);
  v(RunField{"/train_fingerprint"}, c.train_fingerprint);
  v(RunField{"/eval_fingerprint"}, c.eval_fingerprint);
  v(RunField{"/task/kind", "--task", "classification (label words, MeZO prompts) or lm"},
    c.task.kind, kTaskKinds);
  v(RunField{"/task/template", "--template",
             "prompt with {field} placeholders; RoBERTa: with one <mask>"},
    c.task.template_text);
  v(RunField{"/task/labels", "--labels", "candidate label words in label order, '|'-separated"},
    c.task.labels);
  v(RunField{"/task/label_field", "--label-field", "JSON field of the label (index or word)"},
    c.task.label_field);
  v(RunField{"/task/text_field", "--text-field",
             "JSON field cut from the left when an example is longer than --max-len"},
    c.task.text_field);
  v(RunField{"/task/max_len", "--max-len", "tokens per sequence, candidate included"},
    c.task.max_len);
  v(RunField{"/lr", "--lr", "learning rate"}, c.lr);
  v(RunField{"/eps", "--eps", "perturbation scale epsilon"}, c.zo.eps);
  v(RunField{"/batch", "--batch", "examples per step"}, c.batch);
  v(RunField{"/steps", "--steps", "steps of the run"}, c.steps);
  v(RunField{"/weight_decay", "--weight-decay", "weight decay (not on biases and norms)"},
    c.zo.weight_decay);
  v(RunField{"/schedule", "--schedule", "learning rate schedule: constant or linear (to 0)"},
    c.schedule, kSchedules);
  v(RunField{"/seed", "--seed", "run seed: data order and every perturbation"}, c.seed);
  v(RunField{"/master", "--master",
             "f16: stochastic-rounded fp16 updates; f32: an fp32 master copy"},
    c.zo.master_f32, kMasterKinds);
  v(RunField{"/train", "--train",
             "glob over tensor names to train (repeatable); the rest is frozen. Default: all "
             "(with --lora: none of the base)"},
    c.zo.train_patterns);
  v(RunField{"/lora/r", "--lora",
             "LoRA rank r: tune fp32 adapters A[r,in], B[out,r] over a frozen base (an fp16 "
             "directory or a GGUF file, never written); 0: no adapters"},
    c.zo.lora.rank);
  v(RunField{"/lora/alpha", "--lora-alpha",
             "LoRA alpha: an adapted layer adds (alpha/r)·(x·Aᵀ)·Bᵀ (default 8, PEFT's)"},
    c.zo.lora.alpha);
  v(RunField{"/lora/targets", "--lora-targets",
             "modules to adapt, comma-separated or repeated, matched as PEFT's target_modules "
             "(default q_proj,v_proj; RoBERTa query,value)"},
    c.zo.lora.targets);
  v(RunField{"/snapshot_every", "--snapshot-every", "steps between snapshots"}, c.snapshot_every);
  v(RunField{"/eval_every", "--eval-every", "steps between evaluations (0: before and after only)"},
    c.eval_every);
  v(RunField{"/fsync", "--fsync", "journal fsync: step, snapshot or never"}, c.fsync,
    kFsyncPolicies);
}

std::string run_config_json(const RunConfig& config);
// meta.json of `run_dir`; a missing file, bad JSON or a format version outside
// [oldest_version, kRunFormatVersion] is a one-line error (format 1 names the way out).
RunConfig load_run_config(const std::string& run_dir, int oldest_version = kRunFormatVersion);
bool is_run_dir(const std::string& path);                  // has a meta.json
std::string run_journal_path(const std::string& run_dir);  // RUN/journal.bin

// s_t = z_word(run_seed, t) and lr_t (src/zo/README.md).
std::uint64_t step_seed(std::uint64_t run_seed, std::int64_t t);
float step_lr(const RunConfig& config, std::int64_t t);

// Throws pocket::Error naming the file when a run's data file changed since it was created.
void check_run_data(const RunConfig& config);
// Throws pocket::Error naming the base model directory when `base` (freshly loaded, before any
// update) is not the model the run started from.
void check_run_base(const RunConfig& config, const Model& base);

// The base model of a run as its steps use it: mapped copy-on-write when the run trains base
// tensors (ZoOptions::trains_base), read-only when it trains LoRA adapters only (a GGUF base
// serves then), with the run's adapters attached (A from the run seed, B = 0: model/lora.h).
std::unique_ptr<Model> open_run_model(const RunConfig& config);

// Validates a new run's settings, as given on the command line (paths as typed; run_id and the
// fingerprints are filled in here), and creates RUN atomically with its meta.json. Everything
// that can be wrong with the inputs is found before RUN exists: each setting (pocket::Error
// naming its flag), the model, the task against its tokenizer, every line of the data, the
// --train patterns. RUN must not exist (or be an empty directory). Returns the config written.
RunConfig create_run(const std::string& run_dir, RunConfig config);

// Brings a tuner over a freshly loaded base model (check_run_base) to the state after the
// journal's last record: trainable tensors and masters from the newest valid snapshot whose step
// is in the journal (none: the base as loaded), then the journal's accepted updates after it.
// `say` gets one line per thing worth knowing (snapshot used, replayed steps, rejected snapshots).
struct Restored {
  std::int64_t step = 0;           // the journal's last step (0: none)
  std::int64_t snapshot_step = 0;  // the snapshot restored from (0: the base model)
};
Restored restore_run(const std::string& run_dir, const RunConfig& config, ZoTuner& tuner,
                     const std::vector<JournalRecord>& records,
                     const std::function<void(const std::string&)>& say);

// Writes RUN/snap-<step>.safetensors of the tuner's trainable tensors (and masters).
void write_run_snapshot(const std::string& run_dir, std::int64_t step, const RunConfig& config,
                        const ZoTuner& tuner);

}  // namespace pocket
