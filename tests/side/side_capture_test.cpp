// The device's halves of side tuning inside a real backbone forward (a tiny random OPT, a 2×5
// batch): SideCapture lays out exactly the codec's encoding of the hidden state at each chosen row
// and layer, grouped into examples with their targets, as decode_examples reads them; SideRunner
// computes the side network on the round-tripped states — with up = 0 the model's own logits on
// x̂_L, with trained parameters the same bits SideNet gives when called directly.
#include "side/side_capture.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/error.h"
#include "model/model.h"
#include "side/act_codec.h"
#include "side/messages.h"
#include "side/side_file.h"
#include "side/side_net.h"
#include "side/side_runner.h"
#include "side_test_util.h"
#include "test_util.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kBatch = 2, kLen = 5, kRows = kBatch * kLen, kHidden = 64, kLayers = 2,
                       kVocab = 1024;

// Copies every hidden state it sees (layer 0..L, [rows, width]), then hands x on to `next`; and
// keeps x at layer L once `next` is done with it (the side runner rewrites it in place).
class Recorder : public LayerObserver {
 public:
  explicit Recorder(LayerObserver* next = nullptr) : next_(next) {}
  void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) override {
    states.resize(static_cast<std::size_t>(layer) + 1);
    states[static_cast<std::size_t>(layer)].assign(x, x + rows * width);
    if (next_ != nullptr) next_->after_layer(layer, x, rows, width);
    last.assign(x, x + rows * width);
  }
  std::vector<std::vector<float>> states;
  std::vector<float> last;

 private:
  LayerObserver* next_;
};

// Replaces x_L by its quantize → dequantize round trip, row by row: what the side runner's
// output is when up = 0.
class RoundTripLast : public LayerObserver {
 public:
  explicit RoundTripLast(int bits) : bits_(bits) {}
  void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) override {
    if (layer != kLayers) return;
    std::vector<std::uint8_t> encoded(act_vector_bytes(width, bits_));
    for (std::int64_t r = 0; r < rows; ++r) {
      quantize_vector(x + r * width, width, bits_, encoded.data());
      dequantize_vector(encoded.data(), width, bits_, x + r * width);
    }
  }

 private:
  int bits_;
};

struct Fixture {
  test::TempDir dir;
  Model model;
  Session session;
  std::vector<std::int32_t> ids = {5, 17, 900, 3, 44, 1000, 2, 2, 610, 77};
  std::vector<std::int64_t> rows;
  Fixture() : model(make(dir.path())), session(model, {kBatch, kLen, kRows, 0}) {
    for (std::int64_t r = 0; r < kRows; ++r) rows.push_back(r);
  }
  static std::string make(const std::string& dir) {
    fs::create_directories(dir + "/model");
    test::make_head_model(test::HeadKind::kOpt, dir + "/model");
    return dir + "/model";
  }
  // Logits of every row of the batch, with `observer` set for the forward.
  std::vector<float> forward(LayerObserver* observer) {
    std::vector<float> logits(static_cast<std::size_t>(kRows * kVocab));
    session.set_observer(observer);
    session.forward({kBatch, kLen, ids.data(), nullptr}, rows.data(), kRows, logits.data());
    session.set_observer(nullptr);
    return logits;
  }
};

// x̂ of x through the codec.
std::vector<float> round_trip(const float* x, std::int64_t d, int bits) {
  std::vector<std::uint8_t> encoded(act_vector_bytes(d, bits));
  std::vector<float> out(static_cast<std::size_t>(d));
  quantize_vector(x, d, bits, encoded.data());
  dequantize_vector(encoded.data(), d, bits, out.data());
  return out;
}

// A side network file of `params` for the tiny OPT, trained on `bits`-bit activations.
std::string write_side(const std::string& dir, const SideShape& shape, const float* params,
                       int bits) {
  const std::string path = dir + "/side.safetensors";
  write_side_file(path, shape, {{"", params}}, {{"side.act_bits", std::to_string(bits)}});
  return path;
}

}  // namespace

TEST_CASE("side capture: the payload holds each chosen state, encoded, grouped by example") {
  Fixture f;
  // Example 0 reads two positions of sequence 0 (an lm example), examples 1 and 2 one each of
  // sequence 1 (row b·T + t).
  const std::vector<CapturePosition> positions = {{1, 0, 11}, {4, 0, 12}, {7, 1, 0}, {9, 2, 1}};
  for (int bits : {8, 4}) {
    CAPTURE(bits);
    SideCapture capture(kLayers + 1, kHidden, bits);
    const std::size_t vb = act_vector_bytes(kHidden, bits);
    CHECK(capture.vector_bytes() == vb);
    std::string payload;
    capture.begin(40, 3, positions, &payload);
    // The reference sees the same forward, just before the capture does.
    Recorder reference(&capture);
    f.forward(&reference);
    REQUIRE(reference.states.size() == kLayers + 1);

    const msg::Examples m = msg::decode_examples(payload, kLayers + 1, vb);
    CHECK(m.first_index == 40);
    REQUIRE(m.examples.size() == 3);
    CHECK(m.examples[0].targets == std::vector<std::int32_t>{11, 12});
    CHECK(m.examples[1].targets == std::vector<std::int32_t>{0});
    CHECK(m.examples[2].targets == std::vector<std::int32_t>{1});

    // Each vector is the codec's encoding of its state, and decodes to within the codec's error
    // bound (max|x| / 254 for 8 bits, / 14 for 4) of it.
    std::size_t p = 0;
    std::vector<std::uint8_t> expected(vb);
    std::vector<float> decoded(kHidden);
    for (const msg::Example& e : m.examples) {
      REQUIRE(e.vectors.size() == e.targets.size() * (kLayers + 1) * vb);
      for (std::size_t i = 0; i < e.targets.size(); ++i, ++p) {
        for (std::int64_t l = 0; l <= kLayers; ++l) {
          CAPTURE(p);
          CAPTURE(l);
          const float* state =
              reference.states[static_cast<std::size_t>(l)].data() + positions[p].row * kHidden;
          const auto* got = reinterpret_cast<const std::uint8_t*>(e.vectors.data()) +
                            (i * (kLayers + 1) + static_cast<std::size_t>(l)) * vb;
          quantize_vector(state, kHidden, bits, expected.data());
          CHECK(std::memcmp(got, expected.data(), vb) == 0);
          dequantize_vector(got, kHidden, bits, decoded.data());
          float absmax = 0.0f, err = 0.0f;
          for (std::int64_t j = 0; j < kHidden; ++j) {
            absmax = std::max(absmax, std::fabs(state[j]));
            err = std::max(err, std::fabs(decoded[j] - state[j]));
          }
          REQUIRE(absmax > 0.0f);
          CHECK(err <= absmax / (bits == 8 ? 254.0f : 14.0f) * 1.0001f);
        }
      }
    }
    CHECK(p == positions.size());
  }
}

TEST_CASE("side capture: positions must cover every example, in order, inside the batch") {
  Fixture f;
  SideCapture capture(kLayers + 1, kHidden, 8);
  std::string payload;
  CHECK_THROWS_WITH_AS(capture.begin(0, 2, {{0, 1, 0}}, &payload),
                       "side: an example without a position the loss reads", Error);
  CHECK_THROWS_WITH_AS(capture.begin(0, 2, {{0, 0, 0}, {1, 1, 0}, {2, 0, 1}}, &payload),
                       "side: capture positions are not grouped by example", Error);
  capture.begin(0, 1, {{kRows, 0, 0}}, &payload);
  CHECK_THROWS_WITH_AS(f.forward(&capture), "side: capture row outside the batch", Error);
}

TEST_CASE("side runner: with up = 0 the logits are the model's on the round-tripped x_L") {
  Fixture f;
  const SideShape shape = side_shape(kHidden, kLayers, 8);
  SideNet<float> init(shape, 1, /*train=*/false);
  init.init(9);
  const std::vector<float> plain = f.forward(nullptr);
  for (int bits : {8, 4}) {
    CAPTURE(bits);
    const std::string path = write_side(f.dir.path(), shape, init.params(), bits);
    SideRunner runner(load_side_for_model(path, f.model, ""), kRows);
    const std::vector<float> tuned = f.forward(&runner);
    RoundTripLast round_trip_last(bits);
    const std::vector<float> reference = f.forward(&round_trip_last);
    CHECK(std::memcmp(tuned.data(), reference.data(), sizeof(float) * tuned.size()) == 0);
    // The round trip is visible in the logits: the comparison above is not of plain to plain.
    CHECK(test::max_rel_error(tuned.data(), plain.data(), plain.size()) > 1e-6);
  }
}

TEST_CASE("side runner: the final rows are SideNet's output on the round-tripped states") {
  Fixture f;
  const SideShape shape = side_shape(kHidden, kLayers, 8);
  // Every parameter random, up and α included, so every part of the network shows in o.
  SideNet<float> net(shape, 1, /*train=*/false);
  const std::vector<float> noise = test::random_floats(static_cast<std::size_t>(net.size()), 21);
  for (const SideTensor& t : side_tensors(shape)) {
    const bool ln_weight = t.name.find("ln.weight") != std::string::npos;
    const float scale =
        t.shape.size() == 2 ? 1.5f / std::sqrt(static_cast<float>(t.shape[1])) : 0.3f;
    for (std::int64_t i = 0; i < t.numel; ++i) {
      const float v = noise[static_cast<std::size_t>(t.offset + i)] * scale;
      net.params()[t.offset + i] = ln_weight ? 1.0f + v : v;
    }
  }
  const SideFile file =
      load_side_for_model(write_side(f.dir.path(), shape, net.params(), 8), f.model, "");
  SideRunner runner(file, kRows);
  Recorder recorder(&runner);
  f.forward(&recorder);
  REQUIRE(recorder.states.size() == kLayers + 1);

  // SideNet called directly, with the file's parameters, on x̂_0..x̂_L of the same forward.
  SideNet<float> direct(shape, kRows, /*train=*/false);
  std::copy(file.groups.at("").begin(), file.groups.at("").end(), direct.params());
  std::vector<std::vector<float>> hq(kLayers + 1, std::vector<float>(kRows * kHidden));
  for (std::int64_t l = 0; l <= kLayers; ++l) {
    for (std::int64_t r = 0; r < kRows; ++r) {
      const std::vector<float> x =
          round_trip(recorder.states[static_cast<std::size_t>(l)].data() + r * kHidden, kHidden, 8);
      std::copy(x.begin(), x.end(), hq[static_cast<std::size_t>(l)].begin() + r * kHidden);
    }
  }
  direct.begin(kRows);
  for (std::int64_t l = 0; l <= kLayers; ++l) direct.absorb(l, hq[l].data(), kHidden);
  std::vector<float> o(static_cast<std::size_t>(kRows * kHidden));
  direct.output(hq[kLayers].data(), kHidden, o.data(), kHidden);
  REQUIRE(recorder.last.size() == o.size());
  CHECK(std::memcmp(recorder.last.data(), o.data(), sizeof(float) * o.size()) == 0);
  // The side network changed the state (up ≠ 0): the comparison is not of x̂_L to x̂_L.
  CHECK(test::max_rel_error(o.data(), hq[kLayers].data(), o.size()) > 1e-3);
}

TEST_CASE("side runner: a side file for another model or without act_bits is refused") {
  Fixture f;
  const SideShape other = side_shape(32, kLayers, 8);
  SideNet<float> net(other, 1, /*train=*/false);
  net.init(1);
  const std::string path = write_side(f.dir.path(), other, net.params(), 8);
  CHECK_THROWS_WITH_AS(
      load_side_for_model(path, f.model, ""),
      (path + ": side network for hidden 32 x 2 layers, the model has 64 x 2").c_str(), Error);
  const SideShape shape = side_shape(kHidden, kLayers, 8);
  SideNet<float> fits(shape, 1, /*train=*/false);
  fits.init(1);
  write_side_file(path, shape, {{"", fits.params()}}, {});
  CHECK_THROWS_WITH_AS(load_side_for_model(path, f.model, ""),
                       (path + ": no side.act_bits (8 or 4) in the metadata").c_str(), Error);
  write_side_file(path, shape, {{"", fits.params()}},
                  {{"side.act_bits", "8"}, {"side.model_checksum", "aa"}});
  CHECK_THROWS_WITH_AS(
      load_side_for_model(path, f.model, "bb"),
      (path + ": trained for a different base model (model checksum differs)").c_str(), Error);
  CHECK_NOTHROW(load_side_for_model(path, f.model, "aa"));
  CHECK_NOTHROW(load_side_for_model(path, f.model, ""));  // no checksum to compare with
}

}  // namespace pocket
