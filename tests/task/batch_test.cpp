// BatchBuilder: the padded ids and mask, the logit rows and the score terms of each layout
// (single-token / MLM: one row per example; multi-token: one sequence per candidate; lm: one row
// per target), on hand-made examples; and that build() keeps its buffers.
#include "task/batch.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace pocket {
namespace {

using Ids = std::vector<std::int32_t>;

Task classification_task(std::vector<Ids> candidates) {
  Task task;
  task.candidates = std::move(candidates);
  task.label_words.assign(task.candidates.size(), "w");
  task.pad_id = 1;
  return task;
}

Dataset dataset(std::vector<Example> examples, std::int64_t longest) {
  Dataset data;
  data.examples = std::move(examples);
  data.longest = longest;
  return data;
}

struct Term {
  std::int32_t row, slot, token;
  float weight;
  bool operator==(const Term&) const = default;
};

std::vector<Term> terms_of(const BatchBuilder& b) {
  std::vector<Term> out;
  for (const ScoreTerm& t : b.terms()) out.push_back({t.row, t.slot, t.token, t.weight});
  return out;
}

std::vector<std::int64_t> rows_of(const BatchBuilder& b) {
  return {b.rows(), b.rows() + b.n_rows()};
}

Ids ids_of(const BatchBuilder& b) {
  const TokenBatch& t = b.batch();
  return {t.ids, t.ids + t.batch * t.len};
}

// The mask as a string of '0' and '1'. (Not a std::vector<int> literal: GCC 12.2 with AVX-512
// SLP-vectorizes {1, 1, 1, 1, 1, 1, 0, 0} into eight ones.)
std::string mask_of(const BatchBuilder& b) {
  const TokenBatch& t = b.batch();
  std::string out;
  for (std::int64_t i = 0; i < t.batch * t.len; ++i) out += t.mask[i] ? '1' : '0';
  return out;
}

}  // namespace

TEST_SUITE("zo-task") {
  TEST_CASE("batch: single-token causal classification, one row at the last prompt token") {
    const Task task = classification_task({{5}, {7}});
    const Dataset data = dataset({{.ids = {2, 10, 11}, .label = 1},
                                  {.ids = {2, 12}, .label = 0},
                                  {.ids = {2, 13, 14, 15}, .label = 1}},
                                 5);
    BatchBuilder b(task, 3, data.longest);
    CHECK(b.sequences_per_example() == 1);
    CHECK(b.max_sequences() == 3);
    CHECK(b.max_len() == 5);
    CHECK(b.max_rows() == 3);
    CHECK(b.max_slots() == 6);

    const std::int64_t index[] = {2, 1};
    b.build(data, index, 2);
    CHECK(b.batch().batch == 2);
    CHECK(b.batch().len == 4);  // the longest sequence of this batch, not of the dataset
    CHECK(ids_of(b) == Ids{2, 13, 14, 15, 2, 12, 1, 1});
    CHECK(mask_of(b) == "11111100");
    CHECK(rows_of(b) == std::vector<std::int64_t>{3, 5});
    CHECK(terms_of(b) == std::vector<Term>{{0, 0, 5, 1}, {0, 1, 7, 1}, {1, 2, 5, 1}, {1, 3, 7, 1}});
    CHECK(b.n_examples() == 2);
    CHECK(b.n_slots() == 4);
    CHECK(b.labels()[0] == 1);
    CHECK(b.labels()[1] == 0);
  }

  TEST_CASE("batch: MLM, the row is the <mask> position") {
    Task task = classification_task({{5}, {7}, {9}});
    task.mlm = true;
    task.mask_id = 50;
    const Dataset data = dataset({{.ids = {0, 10, 50, 11, 2}, .label = 2, .mask_pos = 2},
                                  {.ids = {0, 50, 2}, .label = 0, .mask_pos = 1}},
                                 5);
    BatchBuilder b(task, 2, data.longest);
    const std::int64_t index[] = {0, 1};
    b.build(data, index, 2);
    CHECK(ids_of(b) == Ids{0, 10, 50, 11, 2, 0, 50, 2, 1, 1});
    CHECK(rows_of(b) == std::vector<std::int64_t>{2, 6});
    CHECK(terms_of(b) ==
          std::vector<Term>{
              {0, 0, 5, 1}, {0, 1, 7, 1}, {0, 2, 9, 1}, {1, 3, 5, 1}, {1, 4, 7, 1}, {1, 5, 9, 1}});
    CHECK(b.n_slots() == 6);
    CHECK(b.labels()[0] == 2);
  }

  TEST_CASE("batch: multi-token candidates, one sequence per (example, candidate)") {
    const Task task = classification_task({{5}, {7, 8, 9}});
    const Dataset data =
        dataset({{.ids = {2, 10}, .label = 1}, {.ids = {2, 11, 12}, .label = 0}}, 6);
    BatchBuilder b(task, 2, data.longest);
    CHECK(b.sequences_per_example() == 2);
    CHECK(b.max_sequences() == 4);
    CHECK(b.max_rows() == 8);
    const std::int64_t index[] = {0, 1};
    b.build(data, index, 2);
    // T = 3 + 3; sequences: e0+c0, e0+c1, e1+c0, e1+c1.
    CHECK(b.batch().batch == 4);
    REQUIRE(b.batch().len == 6);
    CHECK(ids_of(b) == Ids{2, 10, 5,  1, 1, 1,  //
                           2, 10, 7,  8, 9, 1,  //
                           2, 11, 12, 5, 1, 1,  //
                           2, 11, 12, 7, 8, 9});
    CHECK(mask_of(b) ==
          "111000"
          "111110"
          "111100"
          "111111");
    // Rows P−1+j of each sequence: the logits that predict candidate token j.
    CHECK(rows_of(b) == std::vector<std::int64_t>{1, 7, 8, 9, 14, 20, 21, 22});
    const float third = 1.0f / 3;
    CHECK(terms_of(b) == std::vector<Term>{{0, 0, 5, 1},
                                           {1, 1, 7, third},
                                           {2, 1, 8, third},
                                           {3, 1, 9, third},
                                           {4, 2, 5, 1},
                                           {5, 3, 7, third},
                                           {6, 3, 8, third},
                                           {7, 3, 9, third}});
    CHECK(b.n_slots() == 4);
    CHECK(b.labels()[0] == 1);
    CHECK(b.labels()[1] == 0);
  }

  TEST_CASE("batch: lm, one row per target token at t-1") {
    Task task;
    task.options.kind = TaskKind::kLm;
    const Dataset data = dataset(
        {{.ids = {2, 10, 11, 12}, .target_begin = 2}, {.ids = {2, 20, 21}, .target_begin = 1}}, 4);
    BatchBuilder b(task, 2, data.longest);
    CHECK(b.max_rows() == 6);
    CHECK(b.max_slots() == 2);
    const std::int64_t index[] = {0, 1};
    b.build(data, index, 2);
    CHECK(ids_of(b) == Ids{2, 10, 11, 12, 2, 20, 21, 0});
    CHECK(mask_of(b) == "11111110");
    CHECK(rows_of(b) == std::vector<std::int64_t>{1, 2, 4, 5});
    CHECK(terms_of(b) ==
          std::vector<Term>{{0, 0, 11, 1}, {1, 0, 12, 1}, {2, 1, 20, 1}, {3, 1, 21, 1}});
    CHECK(b.n_targets() == 4);
    CHECK(b.n_slots() == 2);
  }

  TEST_CASE("batch: build() reuses the buffers sized at construction") {
    const Task task = classification_task({{5}, {7, 8}});
    std::vector<Example> examples;
    for (int i = 0; i < 8; ++i) examples.push_back({.ids = Ids(1 + i % 4, 3), .label = i % 2});
    const Dataset data = dataset(std::move(examples), 6);
    BatchBuilder b(task, 4, data.longest);
    const std::int64_t all[] = {3, 2, 1, 0}, few[] = {4};
    b.build(data, all, 4);
    const std::int32_t* ids = b.batch().ids;
    const ScoreTerm* terms = b.terms().data();
    const std::int64_t* rows = b.rows();
    for (int round = 0; round < 4; ++round) {
      b.build(data, round % 2 ? all : few, round % 2 ? 4 : 1);
      CHECK(b.batch().ids == ids);
      CHECK(b.terms().data() == terms);
      CHECK(b.rows() == rows);
    }
    CHECK(b.n_rows() == 3 * 4);
    CHECK(b.batch().len == 6);
  }
}

}  // namespace pocket
