// Loss and accuracy of a model on a dataset (`pocket eval`, and the eval points of a run), in
// batches through one unperturbed stream: the same forward and loss code as a ZO step.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/model.h"
#include "task/batch.h"
#include "task/task.h"
#include "task/task_loss.h"

namespace pocket {

struct EvalResult {
  double loss = 0.0;          // mean over the examples (classification) or target tokens (lm)
  std::int64_t correct = 0;   // classification
  std::int64_t examples = 0;
  std::int64_t targets = 0;   // lm
  double accuracy() const { return examples > 0 ? static_cast<double>(correct) / examples : 0.0; }
};

// Runs `data` through `session` (stream 0, unperturbed) batch by batch with `builder` and `loss`;
// `index` must hold room for the builder's batch.
EvalResult evaluate_dataset(Session& session, BatchBuilder& builder, TaskLoss& loss,
                            const Task& task, const Dataset& data, std::vector<std::int64_t>& index);

// A self-contained evaluator: its own one-stream session sized for (batch, longest).
class Evaluator {
 public:
  Evaluator(const Model& model, const Task& task, std::int64_t batch, std::int64_t longest);
  EvalResult run(const Dataset& data);
  const Session& session() const { return *session_; }
  Session& session() { return *session_; }  // e.g. to attach a LayerObserver (side networks)

 private:
  const Task& task_;
  BatchBuilder builder_;
  std::unique_ptr<Session> session_;
  TaskLoss loss_;
  std::vector<std::int64_t> index_;
};

// Session limits that fit every batch of `builder` (head in chunks of up to 64 rows).
SessionLimits task_session_limits(const BatchBuilder& builder, int streams);

}  // namespace pocket
