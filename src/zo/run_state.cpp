#include "zo/run_state.h"

#include <cstring>
#include <vector>

#include "io/atomic_file.h"
#include "io/convert.h"
#include "io/error.h"
#include "io/safetensors.h"
#include "model/lora_adapter.h"

namespace pocket {

RunState::RunState(const std::string& run_dir, const std::function<void(const std::string&)>& say)
    : config_(load_run_config(run_dir)) {
  const std::vector<JournalRecord> records = read_journal(run_journal_path(run_dir));
  model_ = open_run_model(config_);
  check_run_base(config_, *model_);
  tokenizer_ = load_tokenizer(config_.base_model, model_->config().model_type);
  task_ = make_task(config_.task, *tokenizer_, model_->config());
  // A one-example session: only the tensors and the update are needed here.
  tuner_ = std::make_unique<ZoTuner>(*model_, task_, config_.zo, 1, config_.task.max_len);
  // The restore's lines matter only when it did more than read the last step's snapshot.
  std::vector<std::string> lines;
  const Restored restored = restore_run(run_dir, config_, *tuner_, records,
                                        [&](const std::string& line) { lines.push_back(line); });
  step_ = restored.step;
  if (restored.step != restored.snapshot_step || lines.size() > 1) {
    say(run_dir + ": the run did not end with a snapshot of its last step; restoring it");
    for (const std::string& line : lines) say(line);
  }
}

void RunState::write_model(const std::string& out_dir) const {
  if (model_->has_lora()) {
    throw Error(out_dir, "a LoRA run exports its adapters: pocket export RUN OUT --adapter");
  }
  write_tuned_model(*model_, *tuner_, out_dir);
}

void RunState::write_adapter(const std::string& out_dir) const {
  if (!model_->has_lora()) {
    throw Error("--adapter", "the run was not tuned with --lora: pocket export RUN OUT");
  }
  write_lora_adapter(*model_, config_.base_model, out_dir);
}

void write_tuned_model(const Model& model, const ZoTuner& tuner, const std::string& out_dir) {
  create_directory_atomic(out_dir, [&](const std::string& temp) {
    convert_checkpoint(model.path(), temp);
    Checkpoint files(temp, MapMode::kReadWrite);
    for (const TrainableTensor& t : tuner.trainable()) {
      const std::string& name = t.param->name;
      const TensorView* ours = model.checkpoint().find(name);
      const TensorView* theirs = files.find(name);
      if (ours == nullptr || theirs == nullptr || ours->nbytes != theirs->nbytes) {
        throw Error(temp, "no tensor " + name + " to write");
      }
      std::memcpy(files.mutable_data(name), ours->data, ours->nbytes);
    }
    files.sync();
  });
}

}  // namespace pocket
