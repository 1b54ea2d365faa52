// The loss of one batch from logits that arrive in chunks of rows (Session::forward_chunks), so
// that no [rows × vocab] buffer ever exists. Sums are in double, in row order: deterministic.
//
//   per row r:      lse_r = log Σ_v exp(logits[r, v])
//   per term:       score[slot] += weight · (logits[row, token] − lse_row)
//   classification  loss = mean over examples e of −log_softmax(score[e·C .. e·C+C))[label_e]
//                   correct += (argmax_c score[e·C + c] == label_e), ties to the lowest c
//   lm              loss = −Σ score / n_targets
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "task/batch.h"
#include "task/task.h"

namespace pocket {

class TaskLoss : public LogitSink {
 public:
  // Buffers for the largest batch the builder makes.
  TaskLoss(const Task& task, const BatchBuilder& builder, std::int64_t vocab);

  // Starts a batch (the builder's current one) for `streams` streams (1 to kMaxStreams).
  void begin(const BatchBuilder& builder, int streams);
  // LogitSink: logits of rows [first, first + count) of stream `stream`, [count, vocab].
  void consume(int stream, std::int64_t first, std::int64_t count, const float* logits) override;

  double loss(int stream) const;           // after every row of the batch arrived
  std::int64_t correct(int stream) const;  // classification: examples predicted right

 private:
  bool classification_;
  std::int64_t n_candidates_;
  std::int64_t vocab_;
  // The current batch (views into the builder's buffers, set by begin()).
  const ScoreTerm* terms_ = nullptr;
  std::int64_t n_terms_ = 0;
  std::int64_t n_slots_ = 0;
  std::int64_t n_examples_ = 0;
  std::int64_t n_targets_ = 0;
  const std::int32_t* labels_ = nullptr;
  int streams_ = 0;
  // Per stream: the score slots [max_slots] and the next term to add (scores_ allocated by the
  // constructor for every stream, so that begin() never allocates).
  std::vector<double> scores_[kMaxStreams];
  std::int64_t next_term_[kMaxStreams] = {};
};

}  // namespace pocket
