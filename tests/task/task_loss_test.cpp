// TaskLoss against hand computations on tiny made-up logits (vocab 5): classification with one
// row per example, multi-token candidates, lm; the same bits for any chunking of the rows; two
// streams; accuracy with ties going to the lowest candidate.
#include "task/task_loss.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace pocket {
namespace {

using Ids = std::vector<std::int32_t>;
constexpr std::int64_t kVocab = 5;

Task classification_task(std::vector<Ids> candidates) {
  Task task;
  task.candidates = std::move(candidates);
  task.label_words.assign(task.candidates.size(), "w");
  return task;
}

// Feeds `logits` [n_rows, kVocab] to stream `stream` in chunks of `chunk` rows.
void feed(TaskLoss& loss, int stream, const std::vector<float>& logits, std::int64_t chunk) {
  const auto n_rows = static_cast<std::int64_t>(logits.size()) / kVocab;
  for (std::int64_t first = 0; first < n_rows; first += chunk) {
    loss.consume(stream, first, std::min(chunk, n_rows - first), logits.data() + first * kVocab);
  }
}

double log_softmax(const float* row, std::int32_t token) {
  double sum = 0.0;
  for (std::int64_t v = 0; v < kVocab; ++v) sum += std::exp(static_cast<double>(row[v]));
  return row[token] - std::log(sum);
}

}  // namespace

TEST_SUITE("zo-task") {
  TEST_CASE("task loss: 2 candidates, 3 examples, vocab 5, by hand") {
    // Candidates are tokens 1 and 3. With one token each, log_softmax over the candidates of
    // log_softmax(row)[c] = log_softmax over the candidates of the raw logits, so
    // loss_e = log(1 + exp(x_other − x_label)).
    const Task task = classification_task({{1}, {3}});
    Dataset data;
    data.examples = {
        {.ids = {0, 4}, .label = 0}, {.ids = {0, 4}, .label = 1}, {.ids = {0}, .label = 1}};
    data.longest = 3;
    const std::vector<float> logits = {
        1, 2,  0, 0.5f, -1,  // e0: x1 = 2, x3 = 0.5, label 0: log(1 + e^-1.5), right
        0, 0,  0, 0,    0,   // e1: a tie, label 1: log 2, predicted 0 (ties to the lowest)
        3, -1, 2, 1,    0,   // e2: x1 = -1, x3 = 1, label 1: log(1 + e^-2), right
    };
    BatchBuilder builder(task, 3, data.longest);
    const std::int64_t index[] = {0, 1, 2};
    builder.build(data, index, 3);
    REQUIRE(builder.n_rows() == 3);
    TaskLoss loss(task, builder, kVocab);
    loss.begin(builder, 1);
    feed(loss, 0, logits, 3);
    const double expected =
        (std::log1p(std::exp(-1.5)) + std::log(2.0) + std::log1p(std::exp(-2.0))) / 3;
    CHECK(loss.loss(0) == doctest::Approx(expected).epsilon(1e-12));
    CHECK(loss.loss(0) == doctest::Approx(0.3404961565).epsilon(1e-9));
    CHECK(loss.correct(0) == 2);
  }

  TEST_CASE("task loss: chunks of 1, 2 or all rows give the same bits; streams are separate") {
    const Task task = classification_task({{1}, {2, 4}, {0, 3, 2}});
    Dataset data;
    for (int e = 0; e < 4; ++e) data.examples.push_back({.ids = Ids(2 + e % 3, 1), .label = e % 3});
    data.longest = 7;
    BatchBuilder builder(task, 4, data.longest);
    const std::int64_t index[] = {0, 1, 2, 3};
    builder.build(data, index, 4);
    REQUIRE(builder.n_rows() == 4 * 6);
    TaskLoss loss(task, builder, kVocab);
    const auto plus = [&] {
      std::vector<float> v;
      for (int i = 0; i < builder.n_rows() * kVocab; ++i) v.push_back(std::sin(0.7f * i) * 3);
      return v;
    }();
    std::vector<float> minus = plus;
    for (float& x : minus) x = -x;

    // Reference: score[e, c] = mean_j log_softmax(row of token j)[token j], then the
    // cross-entropy over the candidates, in the order the rows come (e, c, j).
    double reference = 0.0;
    std::int64_t row = 0;
    for (int e = 0; e < 4; ++e) {
      double scores[3] = {0, 0, 0};
      for (int c = 0; c < 3; ++c) {
        for (const std::int32_t token : task.candidates[c]) {
          scores[c] += log_softmax(plus.data() + row++ * kVocab, token) /
                       static_cast<double>(task.candidates[c].size());
        }
      }
      const double lse = std::log(std::exp(scores[0]) + std::exp(scores[1]) + std::exp(scores[2]));
      reference += (lse - scores[e % 3]) / 4;
    }

    loss.begin(builder, 2);
    feed(loss, 0, plus, builder.n_rows());
    feed(loss, 1, minus, builder.n_rows());
    const double all = loss.loss(0), all_minus = loss.loss(1);
    CHECK(all == doctest::Approx(reference).epsilon(1e-6));  // the weight 1/3 is a float
    CHECK(all != all_minus);
    for (const std::int64_t chunk : {1, 2, 5}) {
      loss.begin(builder, 2);
      feed(loss, 1, minus, chunk);  // stream order does not matter either
      feed(loss, 0, plus, chunk);
      CHECK(loss.loss(0) == all);
      CHECK(loss.loss(1) == all_minus);
    }
  }

  TEST_CASE("task loss: accuracy, ties go to the lowest candidate") {
    const Task task = classification_task({{1}, {2}, {3}});
    Dataset data;
    for (const int label : {0, 1, 2, 1, 2}) data.examples.push_back({.ids = {0}, .label = label});
    data.longest = 2;
    const std::vector<float> logits = {
        0, 1, 1, 1, 0,  // three-way tie: 0, label 0 (right)
        0, 0, 2, 2, 0,  // tie of 1 and 2: 1, label 1 (right)
        0, 0, 2, 2, 0,  // the same, label 2 (wrong)
        0, 5, 1, 0, 0,  // 0, label 1 (wrong)
        0, 0, 0, 3, 0,  // 2, label 2 (right)
    };
    BatchBuilder builder(task, 5, data.longest);
    const std::int64_t index[] = {0, 1, 2, 3, 4};
    builder.build(data, index, 5);
    TaskLoss loss(task, builder, kVocab);
    loss.begin(builder, 1);
    feed(loss, 0, logits, 2);
    CHECK(loss.correct(0) == 3);
    // A smaller batch in the same buffers: only its examples count.
    builder.build(data, index + 3, 2);
    loss.begin(builder, 1);
    feed(loss, 0, std::vector<float>(logits.begin() + 15, logits.end()), 1);
    CHECK(loss.correct(0) == 1);
    CHECK(loss.loss(0) == doctest::Approx((std::log(std::exp(5.0) + std::exp(1.0) + 1) - 1 +
                                           std::log(2 + std::exp(3.0)) - 3) /
                                          2)
                              .epsilon(1e-12));
  }

  TEST_CASE("task loss: lm is the mean cross-entropy of the target tokens") {
    Task task;
    task.options.kind = TaskKind::kLm;
    Dataset data;
    data.examples = {{.ids = {0, 0, 1}, .target_begin = 1}, {.ids = {0, 4}, .target_begin = 1}};
    data.longest = 3;
    BatchBuilder builder(task, 2, data.longest);
    const std::int64_t index[] = {0, 1};
    builder.build(data, index, 2);
    REQUIRE(builder.n_targets() == 3);
    const float ln4 = static_cast<float>(std::log(4.0));
    // Row (ln 4, 0, 0, 0, 0): log_softmax = (ln 4 − ln 8, −ln 8, ...) = (−ln 2, −3 ln 2, ...).
    const std::vector<float> logits = {
        ln4, 0, 0, 0, 0,  // target 0: −ln 2
        ln4, 0, 0, 0, 0,  // target 1: −3 ln 2
        0,   0, 0, 0, 0,  // target 4: −ln 5
    };
    TaskLoss loss(task, builder, kVocab);
    loss.begin(builder, 1);
    feed(loss, 0, logits, 1);
    const double ln4_f = ln4;  // the logit as the loss sees it: fp32
    const double lse = std::log(std::exp(ln4_f) + 4);
    const double expected = -((ln4_f - lse) + (0 - lse) - std::log(5.0)) / 3;
    CHECK(loss.loss(0) == doctest::Approx(expected).epsilon(1e-12));
    CHECK(loss.loss(0) == doctest::Approx((4 * std::log(2.0) + std::log(5.0)) / 3).epsilon(1e-6));
    CHECK(loss.correct(0) == 0);
  }
}

}  // namespace pocket
