#include "zo/run_dir.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "io/convert.h"
#include "io/error.h"
#include "io/hash.h"
#include "io/mapped_file.h"
#include "kernels/fp16.h"
#include "kernels/zrng.h"
#include "zo/snapshot.h"

namespace pocket {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* schedule_name(Schedule s) { return s == Schedule::kLinear ? "linear" : "constant"; }
const char* fsync_name(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kEveryStep:
      return "step";
    case FsyncPolicy::kAtSnapshots:
      return "snapshot";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "snapshot";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string run_config_json(const RunConfig& c) {
  json task = {{"kind", c.task.kind == TaskKind::kLm ? "lm" : "classification"},
               {"template", c.task.template_text},
               {"labels", c.task.labels},
               {"label_field", c.task.label_field},
               {"text_field", c.task.text_field},
               {"max_len", c.task.max_len}};
  json j = {{"format", "pocket-run"},
            {"version", kRunFormatVersion},
            {"run_id", c.run_id},
            {"base_model", c.base_model},
            {"base_fingerprint", c.base_fingerprint},
            {"train_data", c.train_data},
            {"eval_data", c.eval_data},
            {"train_fingerprint", c.train_fingerprint},
            {"eval_fingerprint", c.eval_fingerprint},
            {"task", task},
            {"lr", c.lr},
            {"eps", c.zo.eps},
            {"weight_decay", c.zo.weight_decay},
            {"master", c.zo.master_f32 ? "f32" : "f16"},
            {"train", c.zo.train_patterns},
            {"schedule", schedule_name(c.schedule)},
            {"batch", c.batch},
            {"steps", c.steps},
            {"seed", std::to_string(c.seed)},
            {"snapshot_every", c.snapshot_every},
            {"eval_every", c.eval_every},
            {"fsync", fsync_name(c.fsync)}};
  return j.dump(2) + "\n";
}

RunConfig load_run_config(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "meta.json").string();
  std::error_code error;
  if (!fs::exists(path, error)) throw Error(run_dir, "not a run directory (no meta.json)");
  RunConfig c;
  try {
    const json j = json::parse(read_text(path));
    if (j.at("format") != "pocket-run") throw Error(path, "not a pocket run's meta.json");
    if (j.at("version") != kRunFormatVersion) {
      throw Error(path, "run format version " + j.at("version").dump() + ", this pocket reads " +
                            std::to_string(kRunFormatVersion));
    }
    c.run_id = j.at("run_id");
    c.base_model = j.at("base_model");
    c.base_fingerprint = j.at("base_fingerprint");
    c.train_data = j.at("train_data");
    c.eval_data = j.at("eval_data");
    c.train_fingerprint = j.at("train_fingerprint");
    c.eval_fingerprint = j.at("eval_fingerprint");
    const json& t = j.at("task");
    c.task.kind = t.at("kind") == "lm" ? TaskKind::kLm : TaskKind::kClassification;
    c.task.template_text = t.at("template");
    c.task.labels = t.at("labels");
    c.task.label_field = t.at("label_field");
    c.task.text_field = t.at("text_field");
    c.task.max_len = t.at("max_len");
    c.lr = j.at("lr");
    c.zo.eps = j.at("eps");
    c.zo.weight_decay = j.at("weight_decay");
    c.zo.master_f32 = j.at("master") == "f32";
    c.zo.train_patterns = j.at("train").get<std::vector<std::string>>();
    c.schedule = j.at("schedule") == "linear" ? Schedule::kLinear : Schedule::kConstant;
    c.batch = j.at("batch");
    c.steps = j.at("steps");
    c.seed = std::stoull(j.at("seed").get<std::string>());
    c.snapshot_every = j.at("snapshot_every");
    c.eval_every = j.at("eval_every");
    const std::string f = j.at("fsync");
    c.fsync = f == "step" ? FsyncPolicy::kEveryStep
                          : (f == "never" ? FsyncPolicy::kNever : FsyncPolicy::kAtSnapshots);
  } catch (const json::exception& e) {
    throw Error(path, std::string("broken: ") + e.what());
  } catch (const std::logic_error& e) {
    throw Error(path, std::string("broken: ") + e.what());
  }
  return c;
}

bool is_run_dir(const std::string& path) {
  std::error_code error;
  return fs::exists(fs::path(path) / "meta.json", error);
}

std::string run_model_dir(const std::string& run_dir) {
  return (fs::path(run_dir) / "model").string();
}

std::uint64_t step_seed(std::uint64_t run_seed, std::int64_t t) {
  return z_word(run_seed, static_cast<std::uint64_t>(t));
}

float step_lr(const RunConfig& c, std::int64_t t) {
  if (c.schedule == Schedule::kLinear) {
    return static_cast<float>(c.lr *
                              (1.0 - static_cast<double>(t - 1) / static_cast<double>(c.steps)));
  }
  return static_cast<float>(c.lr);
}


void check_run_data(const RunConfig& config) {
  const std::pair<const std::string*, const std::string*> files[] = {
      {&config.train_data, &config.train_fingerprint}, {&config.eval_data, &config.eval_fingerprint}};
  for (const auto& [path, fingerprint] : files) {
    if (path->empty()) continue;
    std::error_code error;
    if (!fs::exists(*path, error)) throw Error(*path, "the run's data file is gone");
    if (file_fingerprint(*path) != *fingerprint) {
      throw Error(*path, "changed since the run started: a resumed run must read the same data");
    }
  }
}

void create_run(const std::string& run_dir, const RunConfig& config,
                const std::function<void(const std::string&)>& say) {
  std::error_code error;
  if (fs::exists(run_dir, error) &&
      !(fs::is_directory(run_dir, error) && fs::is_empty(run_dir, error))) {
    throw Error(run_dir, "already exists (resume it with --resume, or choose a new --out)");
  }
  create_directory_atomic(run_dir, [&](const std::string& temp) {
    say("copying the base model into " + run_model_dir(run_dir) + " (the run's working copy)");
    convert_checkpoint(config.base_model, run_model_dir(temp));
    write_file_atomic((fs::path(temp) / "meta.json").string(), run_config_json(config));
  });
}

std::int64_t restore_run(const std::string& run_dir, const RunConfig& config, ZoTuner& tuner,
                         const std::vector<JournalRecord>& records,
                         const std::function<void(const std::string&)>& say) {
  const std::uint64_t last = records.empty() ? 0 : records.back().step;
  std::vector<std::string> rejected;
  std::vector<SnapshotInfo> snapshots = valid_snapshots(run_dir, config.run_id, &rejected);
  for (const std::string& why : rejected) say("snapshot skipped: " + why);
  std::uint64_t from = 0;
  bool restored = false;
  for (const SnapshotInfo& snap : snapshots) {
    if (snap.step > last) {
      say("snapshot " + snap.path + " is past the journal's last step " + std::to_string(last) +
          ": skipped");
      continue;
    }
    const SafetensorsFile file(snap.path);
    for (ZoParam& p : tuner.params()) {
      const TensorView* t = file.find(p.name);
      if (t == nullptr || t->dtype != Dtype::kF16 ||
          t->nbytes != static_cast<std::size_t>(p.numel) * sizeof(fp16)) {
        throw Error(snap.path, "has no F16 tensor '" + p.name + "' of " + std::to_string(p.numel) +
                                   " elements (a snapshot of another trainable set?)");
      }
      std::memcpy(p.data, t->data, t->nbytes);
      if (config.zo.master_f32) {
        const TensorView* m = file.find("master." + p.name);
        if (m == nullptr || m->dtype != Dtype::kF32 ||
            m->nbytes != p.master.size() * sizeof(float)) {
          throw Error(snap.path, "has no F32 master for '" + p.name + "'");
        }
        std::memcpy(p.master.data(), m->data, m->nbytes);
      }
    }
    from = snap.step;
    restored = true;
    say("restored the trainable tensors of step " + std::to_string(from) + " from " + snap.path);
    break;
  }
  if (!restored) {
    // No snapshot: the state before step 1 is the base model.
    const Checkpoint base(config.base_model);
    if (model_fingerprint(base) != config.base_fingerprint) {
      throw Error(config.base_model,
                  "is not the base model this run started from (fingerprint differs)");
    }
    for (ZoParam& p : tuner.params()) {
      const TensorView* t = base.find(p.name);
      std::memcpy(p.data, t->data, static_cast<std::size_t>(p.numel) * sizeof(fp16));
      if (config.zo.master_f32) f16_to_f32(p.data, p.master.data(), p.master.size());
    }
    if (!records.empty()) say("no snapshot: starting from the base model");
  }
  tuner.refresh_small();
  std::int64_t replayed = 0;
  for (const JournalRecord& r : records) {
    if (r.step <= from || r.status != StepStatus::kAccepted) continue;
    tuner.apply_update(r.seed, r.g, r.lr);
    ++replayed;
  }
  if (replayed > 0) {
    say("replayed " + std::to_string(replayed) + " journalled update(s) after step " +
        std::to_string(from) + ", up to step " + std::to_string(last));
  }
  return static_cast<std::int64_t>(last);
}

std::int64_t read_clean_state(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "state.json").string();
  std::error_code error;
  if (!fs::exists(path, error)) return -1;
  try {
    return json::parse(read_text(path)).at("step").get<std::int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

void write_clean_state(const std::string& run_dir, std::int64_t step) {
  write_file_atomic((fs::path(run_dir) / "state.json").string(),
                    json{{"step", step}}.dump() + "\n");
}

void clear_clean_state(const std::string& run_dir) {
  std::error_code error;
  if (fs::remove(fs::path(run_dir) / "state.json", error)) fsync_directory(run_dir);
}

}  // namespace pocket
