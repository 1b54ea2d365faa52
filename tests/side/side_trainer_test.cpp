// The server's trainer (side_trainer.h) on a tiny random OPT and synthetic examples made with the
// activation codec: the schedule of examples a step needs, determinism across a checkpoint and
// resume (the result file is the same bytes), that training lowers the loss on a learnable task,
// and that the untrained network is the frozen model (dev_before = the frozen head's own score).
#include "side/side_trainer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "io/error.h"
#include "model/model.h"
#include "side/act_codec.h"
#include "side/example_store.h"
#include "side/frozen_head.h"
#include "side/side_file.h"
#include "side_test_util.h"
#include "test_util.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The tiny OPT's shape: d = 64, L = 2, so 3 vectors per position.
constexpr std::int64_t kHidden = 64, kVectors = 3;

SideTaskSpec classification_spec(std::int64_t n_train, std::int64_t n_dev, std::int64_t batch,
                                 std::int64_t epochs) {
  SideTaskSpec spec;
  spec.act_bits = 8;
  spec.n_vectors = kVectors;
  spec.hidden = kHidden;
  spec.candidates = {7, 300};
  spec.n_train = n_train;
  spec.n_dev = n_dev;
  spec.batch = batch;
  spec.epochs = epochs;
  spec.lr = 1e-2f;
  spec.seed = 3;
  return spec;
}

// n classification examples as wire bytes: h_0..h_L uniform in [−0.5, 0.5), except h_L[0] = ±4
// with the sign of the class — the largest element, so int8 keeps it exactly (code ±127) and the
// class is a simple function of what the side network reads.
std::vector<std::string> sign_examples(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(-0.5f, 0.5f);
  const std::size_t vb = act_vector_bytes(kHidden, 8);
  std::vector<std::string> out;
  std::vector<float> h(kHidden);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t label = static_cast<std::int32_t>(rng() & 1);
    std::string e;
    const std::uint32_t positions = 1;
    e.append(reinterpret_cast<const char*>(&positions), 4);
    e.append(reinterpret_cast<const char*>(&label), 4);
    for (std::int64_t l = 0; l < kVectors; ++l) {
      for (float& x : h) x = noise(rng);
      if (l == kVectors - 1) h[0] = label == 1 ? 4.0f : -4.0f;
      std::string v(vb, '\0');
      quantize_vector(h.data(), kHidden, 8, reinterpret_cast<std::uint8_t*>(v.data()));
      e += v;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void append_all(ExampleStore& store, const std::vector<std::string>& examples, std::int64_t from,
                std::int64_t to) {
  for (std::int64_t i = from; i < to; ++i) {
    const std::string_view v(examples[static_cast<std::size_t>(i)]);
    store.append(&v, 1);
  }
}

// A tiny random OPT in a temp dir, and a state directory per trainer under it.
struct Fixture {
  test::TempDir dir;
  Model model;
  Fixture() : model(make(dir.path())) {}
  static std::string make(const std::string& dir) {
    fs::create_directories(dir + "/model");
    test::make_head_model(test::HeadKind::kOpt, dir + "/model");
    return dir + "/model";
  }
  std::string state(const std::string& name) const {
    const std::string path = dir.path() + "/" + name;
    fs::create_directories(path);
    return path;
  }
};

void quiet(const std::string&) {}

}  // namespace

TEST_CASE("side trainer: examples_needed follows the documented schedule") {
  Fixture f;
  // n_train 10, batch 4: S = 3 steps per epoch, the last one of 2 examples.
  struct Case {
    std::int64_t n_dev;
    std::vector<std::int64_t> needed;  // before each of the 6 steps, then once done
  };
  const Case cases[] = {
      // Epoch 0 trains while examples arrive: (k + 1)·batch, capped at n_train; the epoch's last
      // step also evaluates, so it needs the dev examples; later epochs need all of n_train.
      {6, {4, 8, 16, 10, 10, 16, 16}},
      {0, {4, 8, 10, 10, 10, 10, 10}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.n_dev);
    const SideTaskSpec spec = classification_spec(10, c.n_dev, 4, 2);
    const std::vector<std::string> examples = sign_examples(spec.n_total(), 1);
    ExampleStore store("");
    SideTrainer trainer(f.model, spec, f.state("schedule" + std::to_string(c.n_dev)), 0, {}, quiet);
    for (std::size_t step = 0; step < c.needed.size(); ++step) {
      CAPTURE(step);
      CHECK(trainer.done() == (step + 1 == c.needed.size()));
      const std::int64_t needed = trainer.examples_needed();
      CHECK(needed == c.needed[step]);
      if (trainer.done()) break;
      // One example short is refused; exactly the number needed is enough.
      if (store.size() < needed) {
        append_all(store, examples, store.size(), needed - 1);
        CHECK_THROWS_WITH_AS(trainer.run_step(store), "side: step run before its examples arrived",
                             Error);
        append_all(store, examples, store.size(), needed);
      }
      trainer.run_step(store);
      CHECK(trainer.status().step == static_cast<std::int64_t>(step) + 1);
    }
    CHECK(trainer.status().examples_trained == 2 * 10);
  }
}

TEST_CASE("side trainer: a run resumed from its checkpoint ends where an uninterrupted one does") {
  Fixture f;
  // 12 steps: S = 3 (batches 4, 4, 2), 4 epochs, dev evaluated at steps 3, 6, 9, 12.
  const SideTaskSpec spec = classification_spec(10, 6, 4, 4);
  REQUIRE(spec.total_steps() == 12);
  const std::vector<std::string> examples = sign_examples(spec.n_total(), 2);
  ExampleStore store("");
  append_all(store, examples, 0, spec.n_total());
  const std::map<std::string, std::string> meta = {{"side.model_checksum", "00ff"}};

  const std::string a_dir = f.state("a");
  SideTrainer a(f.model, spec, a_dir, 0, meta, quiet);
  while (!a.done()) a.run_step(store);

  const std::string b_dir = f.state("b");
  {
    SideTrainer b(f.model, spec, b_dir, 3, meta, quiet);
    for (int i = 0; i < 7; ++i) b.run_step(store);
    CHECK(b.status().step == 7);
  }  // "crashes" after step 7: its last checkpoint is step 6's
  std::vector<std::string> said;
  SideTrainer c(f.model, spec, b_dir, 3, meta, [&](const std::string& s) { said.push_back(s); });
  CHECK(c.status().step == 6);
  REQUIRE(!said.empty());
  CHECK(said[0] == "resumed from the checkpoint at step 6 of 12");
  while (!c.done()) c.run_step(store);

  CHECK(c.status().examples_trained == spec.epochs * spec.n_train);
  CHECK(a.status().examples_trained == spec.epochs * spec.n_train);
  // The result: the same file, byte for byte (parameters, Adam-free metadata, every counter).
  CHECK(read_bytes(c.result_path()) == read_bytes(a.result_path()));
  const SideFile a_result = read_side_file(a.result_path());
  CHECK(a_result.metadata.at("side.model_checksum") == "00ff");
  // The resumed log has every line of the uninterrupted one, once: step 7's first run is gone.
  const std::string log = read_bytes(b_dir + "/log.jsonl");
  CHECK(log == read_bytes(a_dir + "/log.jsonl"));
  for (int step = 1; step <= 12; ++step) {
    CAPTURE(step);
    const std::string line = "{\"step\": " + std::to_string(step) + ", \"epoch\"";
    std::size_t count = 0;
    for (std::size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) {
      ++count;
    }
    CHECK(count == 1);
  }
}

TEST_CASE("side trainer: training lowers the loss on a learnable task") {
  Fixture f;
  // The class is the sign of h_L[0]: 64 train, 32 dev, batch 8, 6 epochs (48 steps).
  const SideTaskSpec spec = classification_spec(64, 32, 8, 6);
  const std::vector<std::string> examples = sign_examples(spec.n_total(), 4);
  ExampleStore store("");
  append_all(store, examples, 0, spec.n_total());
  SideTrainer trainer(f.model, spec, f.state("learn"), 0, {}, quiet);
  while (!trainer.done()) trainer.run_step(store);
  const SideTrainerStatus& s = trainer.status();
  CAPTURE(s.dev_before.loss);
  CAPTURE(s.dev.loss);
  CAPTURE(s.dev.accuracy);
  CHECK(s.dev.loss < 0.5 * s.dev_before.loss);
  CHECK(s.dev.accuracy >= 0.9);
  CHECK(s.dev.accuracy > s.dev_before.accuracy);
  CHECK(s.train_loss < s.dev_before.loss);
  // evaluate() is the same measurement as the last epoch's.
  const SideEval again = trainer.evaluate(store);
  CHECK(again.loss == s.dev.loss);
  CHECK(again.accuracy == s.dev.accuracy);
}

TEST_CASE("side trainer: the untrained network scores what the frozen head scores on h_L") {
  Fixture f;
  const SideTaskSpec spec = classification_spec(4, 40, 4, 1);
  std::vector<std::string> examples = sign_examples(spec.n_total(), 5);
  // Every other example's class flipped: the frozen head, which reads h_L[0] one way or the
  // other, is then right about half the time, so the comparison below says something.
  for (std::size_t i = 0; i < examples.size(); i += 2) examples[i][4] ^= 1;
  ExampleStore store("");
  append_all(store, examples, 0, spec.n_total());
  SideTrainer trainer(f.model, spec, f.state("before"), 0, {}, quiet);
  trainer.run_step(store);  // the epoch's only step: evaluates the initial network too
  REQUIRE(trainer.done());

  // The frozen head on the dequantized h_L of every dev example.
  const std::int64_t n_dev = spec.n_dev, C = 2;
  const std::size_t vb = act_vector_bytes(kHidden, 8);
  std::vector<float> o(static_cast<std::size_t>(n_dev * kHidden));
  std::vector<std::int32_t> targets(static_cast<std::size_t>(n_dev));
  for (std::int64_t i = 0; i < n_dev; ++i) {
    const ExampleView v = parse_example(store.example(spec.n_train + i), spec, 1024);
    targets[static_cast<std::size_t>(i)] = v.targets[0];
    dequantize_vector(v.vectors + (kVectors - 1) * vb, kHidden, 8, o.data() + i * kHidden);
  }
  FrozenHead<float> head(f.model, spec.candidates, n_dev, /*train=*/false);
  std::vector<float> logits(static_cast<std::size_t>(n_dev * C));
  head.forward(o.data(), kHidden, n_dev, logits.data());
  std::int64_t correct = 0;
  double loss = 0.0;
  for (std::int64_t i = 0; i < n_dev; ++i) {
    const double l0 = logits[i * C], l1 = logits[i * C + 1];
    const std::int32_t t = targets[static_cast<std::size_t>(i)];
    correct += (l1 > l0 ? 1 : 0) == t;  // ties: the lower index
    const double top = std::max(l0, l1);
    loss += top + std::log(std::exp(l0 - top) + std::exp(l1 - top)) - (t == 1 ? l1 : l0);
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n_dev);
  CAPTURE(accuracy);
  CHECK(trainer.status().dev_before.accuracy == accuracy);
  CHECK(trainer.status().dev_before.loss == doctest::Approx(loss / n_dev).epsilon(1e-6));
  CHECK(accuracy > 0.2);
  CHECK(accuracy < 0.8);
}

}  // namespace pocket
