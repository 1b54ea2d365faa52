// The server's half of side tuning for one job: the ladder side network (side_net.h) trained with
// backprop and Adam on the hidden states a device sent, through the frozen head of the server's copy
// of the same base model. Only side parameters get gradients; the backbone never runs here.
//
// Schedule (a pure function of the task, so a restarted server repeats it exactly):
//   S = ceil(n_train / batch) steps per epoch; step t (0-based) of epoch e = t / S trains on
//   examples order_e[k·batch, min((k+1)·batch, n_train)), k = t mod S, where order_0 is the
//   arrival order (the device already shuffled it, so epoch 0 can train while examples arrive)
//   and order_e for e ≥ 1 is DataOrder(n_train, seed).permutation(e).
//   loss = mean over the step's positions of the cross-entropy (classification: one position per
//   example, over the candidate logits; lm: every target token, over the vocabulary).
//   After the last step of each epoch the dev examples are evaluated (and, the first time, the
//   initial network too: up = 0, i.e. the frozen model).
//
// State directory (one per job): ckpt.safetensors (side network, Adam moments, step; written
// atomically every `checkpoint_every` steps and at the end), log.jsonl (one line per step and per
// evaluation; cut back to the checkpoint on resume), side.safetensors (the result).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "side/example_store.h"
#include "side/frozen_head.h"
#include "side/side_net.h"
#include "side/side_task.h"

namespace pocket {

struct SideEval {
  double loss = NAN;
  double accuracy = NAN;  // classification: examples right; lm: next tokens right (top-1)
};

struct SideTrainerStatus {
  std::int64_t step = 0, total_steps = 0, epoch = 0;
  double train_loss = NAN;  // exponential moving average (0.9) of the steps' losses
  SideEval dev, dev_before;
  std::int64_t examples_trained = 0;  // summed over epochs: epochs · n_train at the end
};

class SideTrainer {
 public:
  // Resumes from dir/ckpt.safetensors when it exists (and belongs to this task). result_metadata
  // goes into the result file (e.g. the base model's checksum, which eval --side checks).
  SideTrainer(const Model& model, const SideTaskSpec& spec, std::string dir,
              std::int64_t checkpoint_every, std::map<std::string, std::string> result_metadata,
              std::function<void(const std::string&)> say);

  bool done() const { return status_.step == spec_.total_steps(); }
  // How many examples (indices 0..n-1) must be held before the next step can run.
  std::int64_t examples_needed() const;
  // One step (and the evaluation and checkpoint due after it). The store must hold examples_needed().
  void run_step(const ExampleStore& store);
  // The dev examples through the current network.
  SideEval evaluate(const ExampleStore& store);

  const SideTrainerStatus& status() const { return status_; }
  // Writes ckpt.safetensors now (run_step does every checkpoint_every steps; a server that stops
  // calls it to keep the steps since).
  void checkpoint();
  // dir/side.safetensors, once done(): the trained network with what a device needs to run it.
  std::string result_path() const { return dir_ + "/side.safetensors"; }

 private:
  // Forward (and backward when training) over examples index[0..n): returns Σ loss, counts.
  struct Sums {
    double loss = 0.0;
    std::int64_t correct = 0, positions = 0;
  };
  Sums run(const ExampleStore& store, const std::int64_t* index, std::int64_t n, SideNet<float>& net,
           bool train);
  SideEval eval_with(const ExampleStore& store, const std::vector<float>& params);
  void resume();
  void write_result();
  void log(const std::string& json_line);

  const Model& model_;
  SideTaskSpec spec_;
  std::string dir_;
  std::int64_t checkpoint_every_;
  std::map<std::string, std::string> result_metadata_;
  std::function<void(const std::string&)> say_;
  std::int64_t chunk_;  // positions per pass through the network and head
  std::int64_t vocab_;
  SideShape shape_;
  std::unique_ptr<SideNet<float>> net_, eval_net_;
  std::unique_ptr<FrozenHead<float>> head_;
  std::vector<float> init_params_, grad_sum_, adam_m_, adam_v_;
  std::vector<float> h_, o_, logits_, d_logits_, d_o_;
  std::vector<std::int32_t> targets_;
  std::vector<std::int64_t> order_, index_;
  std::vector<ExampleView> views_;  // the examples of the current run(), parsed
  std::int64_t order_epoch_ = -1;
  SideTrainerStatus status_;
};

}  // namespace pocket
