// The fused MeZO step (DESIGN.md, "One ZO step"; exact definition in src/zo/README.md).
//
// One two-stream forward evaluates L(W + εz) and L(W − εz) together: every weight tile is packed
// once with +εz for stream 0 and −εz for stream 1, vectors (biases, norms) are perturbed into
// per-stream fp32 copies, embedding rows as they are gathered. W is never written to evaluate.
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
  // Glob patterns over tensor names ('*' any run of characters, '?' one); empty = everything.
  std::vector<std::string> train_patterns;
};

// One trainable parameter tensor.
struct ZoParam {
  std::string name;
  std::uint64_t pid = 0;          // fnv1a64(name)
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;
  fp16* data = nullptr;           // in the working copy
  std::int64_t small_offset = -1; // >= 0: also held as fp32 in ModelWeights::small at this offset
  bool decay = false;             // weight decay applies (>= 2 dimensions)
  std::vector<float> master;      // --master f32 only
};

struct StepResult {
  double loss_plus = 0.0, loss_minus = 0.0;
  float g = 0.0f;
  bool accepted = false;
};

class ZoTuner {
 public:
  // `model` must be writable (Model(dir, /*writable=*/true)) unless only evaluate() is used.
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

  const std::vector<ZoParam>& params() const { return params_; }
  std::vector<ZoParam>& params() { return params_; }
  // Re-reads the fp32 copies of the vectors from the fp16 working copy (after a restore).
  void refresh_small();
  const Session& session() const { return *session_; }

 private:
  Model& model_;
  const Task& task_;
  ZoOptions options_;
  std::vector<ZoParam> params_;
  BatchBuilder builder_;
  std::unique_ptr<Session> session_;
  TaskLoss loss_;
  std::vector<std::int64_t> eval_index_;
  std::int64_t crash_step_ = -1;
};

// Does `name` match the glob `pattern` ('*' and '?')?
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace pocket
