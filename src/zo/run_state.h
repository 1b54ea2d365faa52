// The tuned model of a run after its journal's last step, for `pocket eval` and `pocket export`:
// the base model mapped copy-on-write, its fingerprint checked, and the trainable tensors
// restored from the newest valid snapshot plus the journal's updates after it (run_dir.h). A clean
// exit leaves a snapshot of the last step, so that costs one snapshot read; a crashed or running
// tune costs a replay of at most --snapshot-every updates. Nothing in the run is written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "io/tokenizer.h"
#include "model/model.h"
#include "task/task.h"
#include "zo/run_dir.h"
#include "zo/zo_step.h"

namespace pocket {

class RunState {
 public:
  // `say` gets the restore's lines when the run did not end cleanly (a replay, a bad snapshot).
  RunState(const std::string& run_dir, const std::function<void(const std::string&)>& say);

  const RunConfig& config() const { return config_; }
  const Model& model() const { return *model_; }
  std::int64_t step() const { return step_; }
  // OUT_DIR as a Hugging Face model directory: write_tuned_model.
  void write_model(const std::string& out_dir) const;
  // OUT_DIR as a PEFT adapter directory of a LoRA run (model/lora_adapter.h).
  void write_adapter(const std::string& out_dir) const;

 private:
  RunConfig config_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  Task task_;
  std::unique_ptr<ZoTuner> tuner_;
  std::int64_t step_ = 0;
};

// Creates OUT_DIR atomically: the files of the tuner's base model directory, converted as
// `pocket convert` does (one F16 model.safetensors), with the bytes of every trainable tensor
// taken from the tuner's copy-on-write mapping. `pocket export` and `pocket replay` both write
// through it, so their files agree byte for byte.
void write_tuned_model(const Model& model, const ZoTuner& tuner, const std::string& out_dir);

}  // namespace pocket
