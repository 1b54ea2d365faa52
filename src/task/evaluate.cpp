#include "task/evaluate.h"

#include <algorithm>

namespace pocket {

SessionLimits task_session_limits(const BatchBuilder& builder, int streams) {
  SessionLimits limits;
  limits.max_batch = builder.max_sequences();
  limits.max_len = builder.max_len();
  limits.max_logit_rows = 0;
  // The head runs on chunks of rows: 64 rows of a 50k vocabulary is 13 MB per stream.
  limits.logit_chunk_rows = std::clamp<std::int64_t>(builder.max_rows(), 1, 64);
  limits.streams = streams;
  return limits;
}

EvalResult evaluate_dataset(Session& session, BatchBuilder& builder, TaskLoss& loss,
                            const Task& task, const Dataset& data,
                            std::vector<std::int64_t>& index) {
  EvalResult r;
  const std::int64_t total = static_cast<std::int64_t>(data.examples.size());
  const std::int64_t batch = static_cast<std::int64_t>(index.size());
  const bool lm = task.options.kind == TaskKind::kLm;
  double loss_sum = 0.0;
  for (std::int64_t first = 0; first < total; first += batch) {
    const std::int64_t n = std::min(batch, total - first);
    for (std::int64_t i = 0; i < n; ++i) index[static_cast<std::size_t>(i)] = first + i;
    builder.build(data, index.data(), n);
    loss.begin(builder, 1);
    session.forward_chunks(builder.batch(), builder.rows(), builder.n_rows(), loss);
    // Batch means back to sums, so that the result is the mean over the whole dataset.
    if (lm) {
      loss_sum += loss.loss(0) * static_cast<double>(builder.n_targets());
      r.targets += builder.n_targets();
    } else {
      loss_sum += loss.loss(0) * static_cast<double>(n);
      r.correct += loss.correct(0);
    }
    r.examples += n;
  }
  const std::int64_t denominator = lm ? r.targets : r.examples;
  r.loss = denominator > 0 ? loss_sum / static_cast<double>(denominator) : 0.0;
  return r;
}

Evaluator::Evaluator(const Model& model, const Task& task, std::int64_t batch, std::int64_t longest)
    : task_(task),
      builder_(task, batch, longest),
      session_(std::make_unique<Session>(model, task_session_limits(builder_, 1))),
      loss_(task, builder_, model.config().vocab_size),
      index_(static_cast<std::size_t>(batch)) {}

EvalResult Evaluator::run(const Dataset& data) {
  return evaluate_dataset(*session_, builder_, loss_, task_, data, index_);
}

}  // namespace pocket
