#include "zo/run_dir.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hash.h"
#include "io/json_parse.h"
#include "io/tokenizer.h"
#include "kernels/fp16.h"
#include "kernels/zrng.h"
#include "model/model_weights.h"
#include "zo/snapshot.h"

namespace pocket {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

template <class T, std::size_t N>
const char* choice_name(T value, const Choice<T> (&names)[N]) {
  for (const Choice<T>& c : names) {
    if (c.value == value) return c.name;
  }
  return names[0].name;
}

// Each field into its place in meta.json; the seed as a decimal string (JSON numbers are doubles
// to many readers, and a 64-bit seed does not fit one).
struct JsonWriter {
  json& j;
  template <class T>
  void operator()(const RunField& f, const T& value) {
    j[json::json_pointer(f.key)] = value;
  }
  void operator()(const RunField& f, const std::uint64_t& value) {
    j[json::json_pointer(f.key)] = std::to_string(value);
  }
  template <class T, std::size_t N>
  void operator()(const RunField& f, const T& value, const Choice<T> (&names)[N]) {
    j[json::json_pointer(f.key)] = choice_name(value, names);
  }
};

struct JsonReader {
  const json& j;
  const std::string& path;
  template <class T>
  void operator()(const RunField& f, T& value) {
    value = j.at(json::json_pointer(f.key)).get<T>();
  }
  // Every count in meta.json is non-negative; checked as an integer first, as get<std::int64_t>()
  // of a double such as 8.8e98 is undefined.
  void operator()(const RunField& f, std::int64_t& value) {
    value = json_int(j.at(json::json_pointer(f.key)), f.key, 0,
                     std::numeric_limits<std::int64_t>::max(), path);
  }
  // Rates (lr, eps, weight_decay): a JSON number, not negative, that a float holds (the step
  // casts them to float, and a double above FLT_MAX into a float is undefined).
  void operator()(const RunField& f, double& value) {
    const json& v = j.at(json::json_pointer(f.key));
    if (!v.is_number() || !(v.get<double>() >= 0) ||
        v.get<double>() > std::numeric_limits<float>::max()) {
      throw Error(path, std::string("broken: ") + f.key + " = " + v.dump() +
                            " is not a non-negative number a float can hold");
    }
    value = v.get<double>();
  }
  // The seed as its decimal string, every character a digit: std::stoull took "12abc" as 12 and
  // "-1" as 2^64-1.
  void operator()(const RunField& f, std::uint64_t& value) {
    const std::string text = j.at(json::json_pointer(f.key)).get<std::string>();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      throw Error(path, std::string("broken: ") + f.key + " '" + text +
                            "' is not a decimal 64-bit unsigned integer");
    }
  }
  template <class T, std::size_t N>
  void operator()(const RunField& f, T& value, const Choice<T> (&names)[N]) {
    const std::string name = j.at(json::json_pointer(f.key)).get<std::string>();
    for (const Choice<T>& c : names) {
      if (name == c.name) {
        value = c.value;
        return;
      }
    }
    throw Error(path, std::string("broken: ") + f.key + " '" + name + "' is not a known value");
  }
};

std::string new_run_id(std::uint64_t seed) {
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return hex64(mix64(static_cast<std::uint64_t>(now) ^
                     (static_cast<std::uint64_t>(::getpid()) << 32) ^ seed));
}

// The settings' own ranges, each error naming its flag.
void check_settings(const RunConfig& c) {
  if (c.train_data.empty()) throw Error("--data", "training data is required (JSONL)");
  if (!(c.lr > 0)) throw Error("--lr", "must be positive");
  if (!(c.zo.eps > 0)) throw Error("--eps", "must be positive");
  if (c.batch < 1) throw Error("--batch", "must be at least 1");
  if (c.steps < 1) throw Error("--steps", "must be at least 1");
  if (c.snapshot_every < 1) throw Error("--snapshot-every", "must be at least 1");
  if (c.eval_every < 0) throw Error("--eval-every", "must be >= 0");
  if (c.zo.weight_decay < 0) throw Error("--weight-decay", "must be >= 0");
  if (c.task.max_len < 2) throw Error("--max-len", "must be at least 2");
  for (const std::string& path : {c.train_data, c.eval_data}) {
    std::error_code error;
    if (!path.empty() && !fs::is_regular_file(path, error)) throw Error(path, "no such file");
  }
}

std::string absolute(const std::string& path) {
  std::error_code error;
  const fs::path p = fs::absolute(path, error);
  return error ? path : p.lexically_normal().string();
}

}  // namespace

std::string run_config_json(const RunConfig& config) {
  RunConfig c = config;
  json j = {{"format", "pocket-run"}, {"version", kRunFormatVersion}};
  JsonWriter writer{j};
  visit(c, writer);
  return j.dump(2) + "\n";
}

RunConfig load_run_config(const std::string& run_dir, int oldest_version) {
  const std::string path = (fs::path(run_dir) / "meta.json").string();
  std::error_code error;
  if (!fs::exists(path, error)) throw Error(run_dir, "not a run directory (no meta.json)");
  RunConfig c;
  try {
    json j = parse_json(read_text(path), path);
    // Runs made before LoRA record no adapters.
    if (j.is_object() && !j.contains("lora")) {
      j["lora"] = {{"r", 0}, {"alpha", LoraOptions{}.alpha}, {"targets", json::array()}};
    }
    if (j.at("format") != "pocket-run") throw Error(path, "not a pocket run's meta.json");
    const auto version = static_cast<int>(json_int(j.at("version"), "version", 0, 1 << 20, path));
    if (version == 1 && oldest_version > 1) {
      throw Error(path,
                  "made by an older pocket (run format 1, with a model copy in RUN/model), which "
                  "this pocket cannot resume, eval or export; rebuild its tuned model with `pocket "
                  "replay " +
                      j.value("base_model", std::string("BASE_MODEL")) + " " + run_dir +
                      " OUT_DIR`");
    }
    if (version < oldest_version || version > kRunFormatVersion) {
      throw Error(path, "run format version " + std::to_string(version) + ", this pocket reads " +
                            std::to_string(kRunFormatVersion));
    }
    JsonReader reader{j, path};
    visit(c, reader);
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

std::string run_journal_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "journal.bin").string();
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
      {&config.train_data, &config.train_fingerprint},
      {&config.eval_data, &config.eval_fingerprint}};
  for (const auto& [path, fingerprint] : files) {
    if (path->empty()) continue;
    std::error_code error;
    if (!fs::exists(*path, error)) throw Error(*path, "the run's data file is gone");
    if (file_fingerprint(*path) != *fingerprint) {
      throw Error(*path, "changed since the run started: a resumed run must read the same data");
    }
  }
}

void check_run_base(const RunConfig& config, const Model& base) {
  if (base.fingerprint() != config.base_fingerprint) {
    throw Error(config.base_model,
                "is not the base model this run started from (fingerprint differs)");
  }
}

RunConfig create_run(const std::string& run_dir, RunConfig c) {
  check_settings(c);
  c.base_model = absolute(c.base_model);
  c.train_data = absolute(c.train_data);
  if (!c.eval_data.empty()) c.eval_data = absolute(c.eval_data);
  c.train_fingerprint = file_fingerprint(c.train_data);
  c.eval_fingerprint = file_fingerprint(c.eval_data);
  {
    const Model base(c.base_model);
    const auto tokenizer = load_tokenizer(c.base_model, base.config().model_type);
    const Task task = make_task(c.task, *tokenizer, base.config());
    load_dataset(c.train_data, task, *tokenizer);
    if (!c.eval_data.empty()) load_dataset(c.eval_data, task, *tokenizer);
    model_params(base.config()).set_trainable(c.zo.train_patterns);  // throws if none match
    if (base.is_gguf() && c.zo.trains_base()) {
      throw Error(c.base_model, "a GGUF base is read-only: tune LoRA adapters over it (--lora R, "
                                "no --train)");
    }
    if (c.zo.lora.rank != 0) {
      Model adapted(c.base_model);
      adapted.attach_lora(c.zo.lora, c.seed);  // rank, alpha and every target checked
      c.zo.lora.targets = adapted.lora().targets;  // meta.json records them resolved
    } else if (!c.zo.lora.targets.empty() || c.zo.lora.alpha != LoraOptions{}.alpha) {
      throw Error("--lora", "--lora-alpha and --lora-targets need --lora R");
    }
    c.base_fingerprint = base.fingerprint();
  }
  c.run_id = new_run_id(c.seed);
  std::error_code error;
  if (fs::exists(run_dir, error) &&
      !(fs::is_directory(run_dir, error) && fs::is_empty(run_dir, error))) {
    throw Error(run_dir, "already exists (resume it with --resume, or choose a new --out)");
  }
  create_directory_atomic(run_dir, [&](const std::string& temp) {
    write_file_atomic((fs::path(temp) / "meta.json").string(), run_config_json(c));
  });
  return c;
}

std::unique_ptr<Model> open_run_model(const RunConfig& config) {
  auto model = std::make_unique<Model>(config.base_model, config.zo.trains_base());
  if (config.zo.lora.rank > 0) model->attach_lora(config.zo.lora, config.seed);
  return model;
}

Restored restore_run(const std::string& run_dir, const RunConfig& config, ZoTuner& tuner,
                     const std::vector<JournalRecord>& records,
                     const std::function<void(const std::string&)>& say) {
  Restored restored;
  const std::uint64_t last = records.empty() ? 0 : records.back().step;
  restored.step = static_cast<std::int64_t>(last);
  std::vector<std::string> rejected;
  std::vector<SnapshotInfo> snapshots = valid_snapshots(run_dir, config.run_id, &rejected);
  for (const std::string& why : rejected) say("snapshot skipped: " + why);
  std::uint64_t from = 0;
  for (const SnapshotInfo& snap : snapshots) {
    if (snap.step > last) {
      say("snapshot " + snap.path + " is past the journal's last step " + std::to_string(last) +
          ": skipped");
      continue;
    }
    const SafetensorsFile file(snap.path);
    for (TrainableTensor& tt : tuner.trainable()) {
      const Param& p = *tt.param;
      const TensorView* t = file.find(p.name);
      // Base tensors are stored as F16, adapters (model/lora.h) as their own F32.
      const bool adapter = p.kind == ParamKind::kAdapter;
      const Dtype dtype = adapter ? Dtype::kF32 : Dtype::kF16;
      const std::size_t size = adapter ? sizeof(float) : sizeof(fp16);
      if (t == nullptr || t->dtype != dtype ||
          t->nbytes != static_cast<std::size_t>(p.numel) * size) {
        throw Error(snap.path, std::string("has no ") + (adapter ? "F32" : "F16") + " tensor '" +
                                   p.name + "' of " + std::to_string(p.numel) +
                                   " elements (a snapshot of another trainable set?)");
      }
      std::memcpy(tt.data.data, t->data, t->nbytes);
      if (config.zo.master_f32 && !adapter) {
        const TensorView* m = file.find("master." + p.name);
        if (m == nullptr || m->dtype != Dtype::kF32 ||
            m->nbytes != tt.master.size() * sizeof(float)) {
          throw Error(snap.path, "has no F32 master for '" + p.name + "'");
        }
        std::memcpy(tt.master.data(), m->data, m->nbytes);
      }
    }
    from = snap.step;
    restored.snapshot_step = static_cast<std::int64_t>(from);
    say("restored the trainable tensors of step " + std::to_string(from) + " from " + snap.path);
    break;
  }
  // No snapshot: the state before step 1 is the base model, which the tuner's freshly mapped
  // copy-on-write tensors (and masters, f32 of them) hold already.
  if (restored.snapshot_step == 0 && !records.empty())
    say("no snapshot: starting from the base model");
  tuner.refresh_vectors();
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
  return restored;
}

void write_run_snapshot(const std::string& run_dir, std::int64_t step, const RunConfig& config,
                        const ZoTuner& tuner) {
  std::vector<SnapshotTensor> tensors;
  for (const TrainableTensor& t : tuner.trainable()) {
    SnapshotTensor s;
    s.name = t.param->name;
    s.dtype = t.param->kind == ParamKind::kAdapter ? Dtype::kF32 : Dtype::kF16;
    s.shape = {t.param->numel};
    s.data = t.data.data;
    tensors.push_back(s);
    if (config.zo.master_f32 && !t.master.empty()) {
      s.name = "master." + t.param->name;
      s.dtype = Dtype::kF32;
      s.data = t.master.data();
      tensors.push_back(s);
    }
  }
  write_snapshot(run_dir, static_cast<std::uint64_t>(step), config.run_id, tensors);
}

}  // namespace pocket
