#include "task/batch.h"

#include <algorithm>
#include <cassert>

namespace pocket {

// Three layouts, for example e (e < n) of a batch with C candidates, prompt length P:
//   kOneRow        single-token causal classification and MLM: sequence e = the example; one logit
//                  row at P−1 (causal) or at <mask>; terms {row, e·C + c, candidate c's token, 1}.
//   kPerCandidate  multi-token causal classification: sequence e·C + c = prompt + candidate c;
//                  rows at P−1+j for j < len(c); terms {row, e·C + c, cand[c][j], 1/len(c)}.
//   kLm            sequence e = the example; rows at t−1 for t ≥ target_begin; terms {row, e,
//                  ids[t], 1}.
BatchBuilder::BatchBuilder(const Task& task, std::int64_t max_examples, std::int64_t longest)
    : candidates_(task.candidates),
      pad_id_(task.pad_id),
      n_candidates_(static_cast<std::int64_t>(task.candidates.size())),
      max_examples_(max_examples),
      longest_(longest) {
  std::int64_t candidate_tokens = 0;
  for (const auto& c : candidates_) candidate_tokens += static_cast<std::int64_t>(c.size());
  if (task.options.kind == TaskKind::kLm) {
    layout_ = Layout::kLm;
    max_rows_ = max_examples * std::max<std::int64_t>(longest - 1, 0);
  } else if (task.single_token()) {
    layout_ = Layout::kOneRow;
    max_rows_ = max_examples;
  } else {
    layout_ = Layout::kPerCandidate;
    max_rows_ = max_examples * candidate_tokens;
  }
  const auto tokens = static_cast<std::size_t>(max_sequences() * longest);
  ids_.reserve(tokens);
  mask_.reserve(tokens);
  rows_.reserve(static_cast<std::size_t>(max_rows_));
  // One term per row, except kOneRow: C terms on its one row.
  terms_.reserve(static_cast<std::size_t>(layout_ == Layout::kOneRow ? max_slots() : max_rows_));
  labels_.reserve(static_cast<std::size_t>(max_examples));
  batch_ = {0, 0, ids_.data(), mask_.data()};
}

std::int64_t BatchBuilder::sequences_per_example() const {
  return layout_ == Layout::kPerCandidate ? n_candidates_ : 1;
}
std::int64_t BatchBuilder::max_sequences() const { return max_examples_ * sequences_per_example(); }
std::int64_t BatchBuilder::max_len() const { return longest_; }
std::int64_t BatchBuilder::max_rows() const { return max_rows_; }
std::int64_t BatchBuilder::max_slots() const {
  return layout_ == Layout::kLm ? max_examples_ : max_examples_ * n_candidates_;
}

void BatchBuilder::build(const Dataset& data, const std::int64_t* index, std::int64_t n) {
  assert(n >= 0 && n <= max_examples_);
  const std::int64_t per_example = sequences_per_example();
  const auto example = [&](std::int64_t e) -> const Example& { return data.examples[index[e]]; };
  const auto sequence_length = [&](std::int64_t e, std::int64_t c) {
    const auto prompt = static_cast<std::int64_t>(example(e).ids.size());
    return layout_ == Layout::kPerCandidate
               ? prompt + static_cast<std::int64_t>(candidates_[c].size())
               : prompt;
  };
  std::int64_t len = 0;
  for (std::int64_t e = 0; e < n; ++e) {
    for (std::int64_t c = 0; c < per_example; ++c) len = std::max(len, sequence_length(e, c));
  }
  assert(len <= longest_);

  // Right padding: sequence b occupies [b·T, b·T + length), pad id and mask 0 after it.
  const std::int64_t sequences = n * per_example;
  ids_.assign(static_cast<std::size_t>(sequences * len), pad_id_);
  mask_.assign(static_cast<std::size_t>(sequences * len), 0);
  rows_.clear();
  terms_.clear();
  labels_.clear();
  n_targets_ = 0;
  const auto add_row = [&](std::int64_t position) {
    assert(rows_.size() < rows_.capacity());
    rows_.push_back(position);
    return static_cast<std::int32_t>(rows_.size() - 1);
  };
  const auto add_term = [&](std::int32_t row, std::int64_t slot, std::int32_t token, float weight) {
    assert(terms_.size() < terms_.capacity());
    terms_.push_back({row, static_cast<std::int32_t>(slot), token, weight});
  };
  for (std::int64_t e = 0; e < n; ++e) {
    const Example& ex = example(e);
    const auto prompt = static_cast<std::int64_t>(ex.ids.size());
    labels_.push_back(ex.label);
    for (std::int64_t c = 0; c < per_example; ++c) {
      const std::int64_t b = e * per_example + c;
      std::int32_t* ids = ids_.data() + b * len;
      std::fill_n(mask_.data() + b * len, sequence_length(e, c), 1);
      std::copy(ex.ids.begin(), ex.ids.end(), ids);
      switch (layout_) {
        case Layout::kLm:
          for (std::int64_t t = ex.target_begin; t < prompt; ++t) {
            add_term(add_row(b * len + t - 1), e, ex.ids[t], 1.0f);
            ++n_targets_;
          }
          break;
        case Layout::kOneRow: {
          const std::int32_t row = add_row(b * len + (ex.mask_pos >= 0 ? ex.mask_pos : prompt - 1));
          for (std::int64_t k = 0; k < n_candidates_; ++k) {
            add_term(row, e * n_candidates_ + k, candidates_[k][0], 1.0f);
          }
          break;
        }
        case Layout::kPerCandidate: {
          const auto& candidate = candidates_[c];
          const auto n_tokens = static_cast<std::int64_t>(candidate.size());
          std::copy(candidate.begin(), candidate.end(), ids + prompt);
          for (std::int64_t j = 0; j < n_tokens; ++j) {
            add_term(add_row(b * len + prompt - 1 + j), b, candidate[j], 1.0f / n_tokens);
          }
          break;
        }
      }
    }
  }
  n_examples_ = n;
  batch_ = {sequences, len, ids_.data(), mask_.data()};
}

const TokenBatch& BatchBuilder::batch() const { return batch_; }
const std::int64_t* BatchBuilder::rows() const { return rows_.data(); }
std::int64_t BatchBuilder::n_rows() const { return static_cast<std::int64_t>(rows_.size()); }
const std::vector<ScoreTerm>& BatchBuilder::terms() const { return terms_; }
std::int64_t BatchBuilder::n_examples() const { return n_examples_; }
std::int64_t BatchBuilder::n_slots() const {
  return layout_ == Layout::kLm ? n_examples_ : n_examples_ * n_candidates_;
}
const std::int32_t* BatchBuilder::labels() const { return labels_.data(); }
std::int64_t BatchBuilder::n_targets() const { return n_targets_; }

}  // namespace pocket
