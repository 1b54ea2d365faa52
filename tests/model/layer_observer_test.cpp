// Session::set_observer: the hidden states side tuning reads, and the final state it may rewrite.
#include <doctest/doctest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "io/atomic_file.h"
#include "model/model.h"
#include "model/random_model.h"
#include "test_util.h"

namespace pocket {
namespace {

// Records every call; optionally captures or replaces the final layer's rows.
class Recorder : public LayerObserver {
 public:
  std::vector<std::int64_t> layers;
  std::vector<std::int64_t> rows_seen;
  std::vector<float> captured;         // x after the last layer, when capturing
  const std::vector<float>* replace = nullptr;
  std::int64_t last = 0;
  void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) override {
    layers.push_back(layer);
    rows_seen.push_back(rows);
    if (layer != last) return;
    if (replace != nullptr) {
      std::memcpy(x, replace->data(), sizeof(float) * static_cast<std::size_t>(rows * width));
    } else {
      captured.assign(x, x + rows * width);
    }
  }
};

}  // namespace

TEST_CASE("model: a layer observer sees layers 0..L and a rewritten final state feeds the head") {
  for (Arch arch : {Arch::kOpt, Arch::kRoberta, Arch::kLlama}) {
    CAPTURE(arch_name(arch));
    test::TempDir dir;
    const ModelConfig c = shape_config(arch, "tiny");
    write_random_weights(c, 3, dir.path(), 0.2f);
    write_file_atomic(dir.path() + "/config.json", model_config_json(c));
    const Model model(dir.path());
    const std::int64_t B = 2, T = 5, n = B * T, V = c.vocab_size;
    const std::vector<std::int32_t> a = {5, 17, 300, 42, 9, 8, 7, 6, 5, 4};
    const std::vector<std::int32_t> b = {11, 12, 13, 14, 15, 99, 98, 97, 96, 95};
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), 0);
    Session session(model, {B, T, n, 0});
    auto run = [&](const std::vector<std::int32_t>& ids) {
      std::vector<float> logits(static_cast<std::size_t>(n * V));
      session.forward({B, T, ids.data(), nullptr}, rows.data(), n, logits.data());
      return logits;
    };
    const std::vector<float> plain_a = run(a), plain_b = run(b);

    Recorder rec;
    rec.last = c.n_layers;
    session.set_observer(&rec);
    CHECK(run(a) == plain_a);  // watching changes nothing, bit for bit
    std::vector<std::int64_t> expect(static_cast<std::size_t>(c.n_layers + 1));
    std::iota(expect.begin(), expect.end(), 0);
    CHECK(rec.layers == expect);
    for (std::int64_t r : rec.rows_seen) CHECK(r == n);
    REQUIRE(rec.captured.size() == static_cast<std::size_t>(n * c.hidden));

    // Sequence b with a's final state substituted: the head must give a's logits exactly.
    const std::vector<float> final_a = rec.captured;
    rec.replace = &final_a;
    CHECK(run(b) == plain_a);
    session.set_observer(nullptr);
    CHECK(run(b) == plain_b);
  }
}

TEST_CASE("model: a layer observer sees the new tokens of a cached forward") {
  test::TempDir dir;
  const ModelConfig c = shape_config(Arch::kOpt, "tiny");
  write_random_weights(c, 3, dir.path(), 0.2f);
  write_file_atomic(dir.path() + "/config.json", model_config_json(c));
  const Model model(dir.path());
  Session session(model, {1, 4, 1, 8});
  Recorder rec;
  rec.last = -1;
  session.set_observer(&rec);
  std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));
  const std::int32_t prompt[4] = {3, 4, 5, 6};
  session.forward_cached(prompt, 1, 4, logits.data());
  session.forward_cached(prompt, 1, 1, logits.data());
  REQUIRE(rec.rows_seen.size() == static_cast<std::size_t>(2 * (c.n_layers + 1)));
  CHECK(rec.rows_seen.front() == 4);
  CHECK(rec.rows_seen.back() == 1);
}

}  // namespace pocket
