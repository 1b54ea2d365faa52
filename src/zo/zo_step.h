// The fused MeZO step (DESIGN.md, "One ZO step"; exact definition in src/zo/README.md).
//
// One two-stream forward evaluates L(W + εz) and L(W − εz) together (Perturbation::pair): every
// weight block is packed once with +εz for stream 0 and −εz for stream 1, vectors (biases, norms)
// are perturbed into per-stream fp32 copies, embedding rows as they are gathered. W is never
// written to evaluate.
// Then g = (L+ − L−)/2ε and every trainable tensor is updated in place in the run's working copy
// (a read-write mapping), with stochastic-rounded fp16 or through an fp32 master.
//
// Everything a step touches is allocated by the constructor; step() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "task/batch.h"
#include "task/evaluate.h"
#include "task/task.h"
#include "task/task_loss.h"

namespace pocket {

struct ZoOptions {
  double eps = 1e-3;
  double weight_decay = 0.0;
  bool master_f32 = false;
  // Glob patterns over tensor names ('*' any run of characters, '?' one); empty = everything,
  // or with LoRA nothing of the base.
  std::vector<std::string> train_patterns;
  // LoRA adapters (model/lora.h); rank 0: none. The model has them attached
  // (Model::attach_lora) before a ZoTuner is made over it; they are always trainable.
  LoraOptions lora;
  // Does a run with these options update base tensors (and need a writable base)?
  bool trains_base() const { return lora.rank == 0 || !train_patterns.empty(); }
};

// One trainable tensor of a run: its parameter (model/params.h), its stored elements in the run's
// copy-on-write mapping (an adapter's: the model's own fp32), and with --master f32 its fp32
// master (not for adapters, which are fp32 already).
struct TrainableTensor {
  const Param* param = nullptr;
  MutableWeightView data;     // F16 (F32 for an adapter), param->view's shape; empty when the
                              // model is read-only and this is a base tensor
  std::vector<float> master;  // --master f32, base tensors only: param->numel floats
  MutableWeightView master_view() {
    return {WeightFormat::kF32, master.data(), nullptr, data.rows, data.cols, data.stride};
  }
};

struct StepResult {
  double loss_plus = 0.0, loss_minus = 0.0;
  float g = 0.0f;
  bool accepted = false;
};

class ZoTuner {
 public:
  // `model` must be writable (Model(dir, /*writable=*/true)) when options.trains_base(), unless
  // only evaluate() is used; with LoRA only, a read-only base (a GGUF file) serves. A model with
  // adapters attached must come with options.lora.rank > 0 and vice versa.
  // batch: examples per step; longest: the longest sequence of every dataset it will see.
  ZoTuner(Model& model, const Task& task, const ZoOptions& options, std::int64_t batch,
          std::int64_t longest);

  // One step on examples index[0..n) of `data` with step seed s_t and learning rate lr_t:
  // probe() then, when accepted, apply_update().
  StepResult step(const Dataset& data, const std::int64_t* index, std::int64_t n,
                  std::uint64_t step_seed, float lr);
  // The two-stream evaluation alone: L+, L-, g and whether they are finite. The trainer journals
  // the result before it updates (DESIGN.md: the journal record comes first).
  StepResult probe(const Dataset& data, const std::int64_t* index, std::int64_t n,
                   std::uint64_t step_seed);
  // The step number the next update belongs to, for crash injection (crash_point.h) only.
  void set_crash_step(std::int64_t t) { crash_step_ = t; }
  // The update of an accepted step alone (resume and replay: the journal's seed, g and lr).
  void apply_update(std::uint64_t step_seed, float g, float lr);
  // Loss and accuracy of the current weights over the whole dataset, in batches: stream 0 of the
  // step's own session, unperturbed (no second session, no extra memory).
  EvalResult evaluate(const Dataset& data);

  // The model's trainable parameters (ParamTable::set_trainable of the options' patterns), in
  // table order: what snapshots save, a restore loads and export writes.
  const std::vector<TrainableTensor>& trainable() const { return trainable_; }
  std::vector<TrainableTensor>& trainable() { return trainable_; }
  // Re-reads the fp32 copies of the trainable vectors from their stored F16 (after a restore).
  void refresh_vectors();
  const Session& session() const { return *session_; }

 private:
  Model& model_;
  const Task& task_;
  ZoOptions options_;
  std::vector<TrainableTensor> trainable_;
  BatchBuilder builder_;
  std::unique_ptr<Session> session_;
  TaskLoss loss_;
  std::vector<std::int64_t> eval_index_;
  std::int64_t crash_step_ = -1;
};

}  // namespace pocket
