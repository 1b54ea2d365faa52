#include "task/task_loss.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace pocket {

TaskLoss::TaskLoss(const Task& task, const BatchBuilder& builder, std::int64_t vocab)
    : classification_(task.options.kind == TaskKind::kClassification),
      n_candidates_(static_cast<std::int64_t>(task.candidates.size())),
      vocab_(vocab) {
  for (auto& scores : scores_) scores.assign(static_cast<std::size_t>(builder.max_slots()), 0.0);
}

void TaskLoss::begin(const BatchBuilder& builder, int streams) {
  assert(streams >= 1 && streams <= kMaxStreams);
  assert(builder.n_slots() <= static_cast<std::int64_t>(scores_[0].size()));
  terms_ = builder.terms().data();
  n_terms_ = static_cast<std::int64_t>(builder.terms().size());
  n_slots_ = builder.n_slots();
  n_examples_ = builder.n_examples();
  n_targets_ = builder.n_targets();
  labels_ = builder.labels();
  streams_ = streams;
  for (int s = 0; s < streams; ++s) {
    std::fill_n(scores_[s].begin(), n_slots_, 0.0);
    next_term_[s] = 0;
  }
}

namespace {

// lse = m + log Σ_v exp(x_v − m), m = max_v x_v, summed in double.
double log_sum_exp(const float* x, std::int64_t n) {
  const float m = *std::max_element(x, x + n);
  double sum = 0.0;
  for (std::int64_t v = 0; v < n; ++v) sum += std::exp(static_cast<double>(x[v]) - m);
  return m + std::log(sum);
}

}  // namespace

// Rows arrive in order, and the terms are sorted by row: each row's terms are the next ones, so
// every score slot sums its terms in row order whatever the chunking.
void TaskLoss::consume(int stream, std::int64_t first, std::int64_t count, const float* logits) {
  assert(stream >= 0 && stream < streams_);
  double* scores = scores_[stream].data();
  std::int64_t& next = next_term_[stream];
  assert(next == n_terms_ || terms_[next].row >= first);
  for (std::int64_t r = 0; r < count; ++r) {
    const float* row = logits + r * vocab_;
    const std::int64_t row_index = first + r;
    if (next == n_terms_ || terms_[next].row != row_index) continue;
    const double lse = log_sum_exp(row, vocab_);
    for (; next < n_terms_ && terms_[next].row == row_index; ++next) {
      const ScoreTerm& term = terms_[next];
      scores[term.slot] += static_cast<double>(term.weight) * (row[term.token] - lse);
    }
  }
}

// classification: mean_e (lse_c score[e, c] − score[e, label_e]);  lm: −Σ score / n_targets.
double TaskLoss::loss(int stream) const {
  assert(stream >= 0 && stream < streams_ && next_term_[stream] == n_terms_);
  const double* scores = scores_[stream].data();
  double total = 0.0;
  if (!classification_) {
    for (std::int64_t s = 0; s < n_slots_; ++s) total += scores[s];
    return -total / static_cast<double>(n_targets_);
  }
  for (std::int64_t e = 0; e < n_examples_; ++e) {
    const double* score = scores + e * n_candidates_;
    const double m = *std::max_element(score, score + n_candidates_);
    double sum = 0.0;
    for (std::int64_t c = 0; c < n_candidates_; ++c) sum += std::exp(score[c] - m);
    total += m + std::log(sum) - score[labels_[e]];
  }
  return total / static_cast<double>(n_examples_);
}

std::int64_t TaskLoss::correct(int stream) const {
  assert(stream >= 0 && stream < streams_ && next_term_[stream] == n_terms_);
  if (!classification_) return 0;
  std::int64_t right = 0;
  for (std::int64_t e = 0; e < n_examples_; ++e) {
    const double* score = scores_[stream].data() + e * n_candidates_;
    // max_element returns the first of equal maxima: ties go to the lowest c.
    right += (std::max_element(score, score + n_candidates_) - score) == labels_[e] ? 1 : 0;
  }
  return right;
}

}  // namespace pocket
