// A batch of examples as one padded TokenBatch, plus the score terms the loss reads from the
// logits. Buffers are sized once for the largest batch; build() allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "task/task.h"

namespace pocket {

// The loss reads logits row `row` (an index into rows()) and adds weight · log_softmax(row)[token]
// to score slot `slot`:
//   classification  slot = e·C + c (example e of the batch, candidate c), weight = 1/len(c)
//   lm              slot = e, weight = 1 (targets of example e)
struct ScoreTerm {
  std::int32_t row = 0;
  std::int32_t slot = 0;
  std::int32_t token = 0;
  float weight = 1.0f;
};

class BatchBuilder {
 public:
  // max_examples: examples per batch; the longest sequence is dataset.longest (all datasets the
  // builder will see, e.g. max over train and eval).
  BatchBuilder(const Task& task, std::int64_t max_examples, std::int64_t longest);

  // Sequences per example: the number of candidates for multi-token causal classification (one
  // sequence = prompt + candidate c), 1 otherwise.
  std::int64_t sequences_per_example() const;
  // Session limits that fit every batch this builder makes (max_logit_rows is left to the caller).
  std::int64_t max_sequences() const;
  std::int64_t max_len() const;
  std::int64_t max_rows() const;
  std::int64_t max_slots() const;  // score slots of the largest batch (sizes TaskLoss)

  // Lays out examples[index[0..n)] of `data`: right-padded ids and mask, the logit rows (flat
  // positions b·T + t, ascending), the score terms (ascending row), the labels.
  void build(const Dataset& data, const std::int64_t* index, std::int64_t n);

  const TokenBatch& batch() const;
  const std::int64_t* rows() const;
  std::int64_t n_rows() const;
  const std::vector<ScoreTerm>& terms() const;  // capacity fixed at construction
  std::int64_t n_examples() const;
  std::int64_t n_slots() const;        // n·C (classification) or n (lm)
  const std::int32_t* labels() const;  // classification: [n]
  std::int64_t n_targets() const;      // lm: target tokens in the batch

 private:
  enum class Layout { kLm, kOneRow, kPerCandidate };  // lm; single-token / MLM; multi-token
  Layout layout_ = Layout::kLm;
  std::vector<std::vector<std::int32_t>> candidates_;
  std::int32_t pad_id_ = 0;
  std::int64_t n_candidates_ = 0;
  std::int64_t max_examples_ = 0;
  std::int64_t longest_ = 0;
  std::int64_t max_rows_ = 0;
  // Buffers with their capacity fixed in the constructor; build() resizes within it.
  std::vector<std::int32_t> ids_;
  std::vector<std::uint8_t> mask_;
  std::vector<std::int64_t> rows_;
  std::vector<ScoreTerm> terms_;
  std::vector<std::int32_t> labels_;
  TokenBatch batch_;
  std::int64_t n_examples_ = 0;
  std::int64_t n_targets_ = 0;
};

}  // namespace pocket
