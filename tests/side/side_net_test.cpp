// The side network: shapes and the tensor table, the deterministic init (which leaves the frozen
// model's output exactly as it is), float against double, no allocation after construction, and
// the gradient of the whole chain — side network, frozen head, cross-entropy — against finite
// differences in double, for every head layout.
#include "side/side_net.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "io/error.h"
#include "model/model.h"
#include "side/frozen_head.h"
#include "side/side_ops.h"
#include "side_test_util.h"
#include "test_util.h"

namespace pocket {
namespace {

using test::HeadKind;

// Every parameter random (up non-zero, α ≠ 0, LN weights around 1), so every path carries
// gradient.
template <class T>
void randomize(SideNet<T>& net, std::uint32_t seed) {
  const auto noise = test::random_doubles(static_cast<std::size_t>(net.size()), seed);
  for (const SideTensor& t : side_tensors(net.shape())) {
    const bool weight = t.shape.size() == 2;
    const bool ln_weight = t.name.find("ln.weight") != std::string::npos;
    const double scale = weight ? 1.5 / std::sqrt(static_cast<double>(t.shape[1]))
                         : t.name == "side.gate.alpha" ? 0.1
                                                       : 0.3;
    for (std::int64_t i = 0; i < t.numel; ++i) {
      const double v = noise[static_cast<std::size_t>(t.offset + i)] * scale;
      net.params()[t.offset + i] = static_cast<T>(ln_weight ? 1.0 + v : v);
    }
  }
}

// o of a forward over h[rows, L + 1, d] (position-major, as the wire carries it).
template <class T>
void run_forward(SideNet<T>& net, const T* h, std::int64_t rows, T* o, std::int64_t ldo) {
  const std::int64_t L = net.shape().layers, d = net.shape().hidden, ldh = (L + 1) * d;
  net.begin(rows);
  for (std::int64_t l = 0; l <= L; ++l) net.absorb(l, h + l * d, ldh);
  net.output(h + L * d, ldh, o, ldo);
}

}  // namespace

TEST_CASE("side net: shape and tensor table") {
  const SideShape s = side_shape(64, 2, 8);
  CHECK(s.hidden == 64);
  CHECK(s.layers == 2);
  CHECK(s.width == 8);
  CHECK(s.mlp == 32);
  CHECK(s.temperature == 0.1f);
  CHECK_THROWS_WITH_AS(side_shape(64, 2, 0), "side network: reduction 0 is below 1", Error);
  CHECK_THROWS_WITH_AS(side_shape(7, 2, 8),
                       "side network: reduction 8 leaves no width of hidden size 7", Error);
  CHECK_THROWS_AS(side_shape(64, 0, 8), Error);

  const std::vector<SideTensor> t = side_tensors(s);
  const std::int64_t d = 64, m = 8, mh = 32, L = 2;
  REQUIRE(t.size() == static_cast<std::size_t>(1 + 2 * L + 1 + 6 * L + 3));
  CHECK(t[0].name == "side.down.0.weight");
  CHECK(t[1].name == "side.down.1.weight");
  CHECK(t[2].name == "side.down.1.bias");
  CHECK(t[5].name == "side.gate.alpha");
  CHECK(t[6].name == "side.block.1.ln.weight");
  CHECK(t[8].name == "side.block.1.fc1.weight");
  CHECK(t[8].shape == std::vector<std::int64_t>{mh, m});
  CHECK(t[10].name == "side.block.1.fc2.weight");
  CHECK(t[10].shape == std::vector<std::int64_t>{m, mh});
  CHECK(t.back().name == "side.up.weight");
  CHECK(t.back().shape == std::vector<std::int64_t>{d, m});
  std::int64_t offset = 0;
  for (const SideTensor& x : t) {
    CHECK(x.offset == offset);
    offset += x.numel;
  }
  CHECK(side_param_count(s) == offset);
  CHECK(offset ==
        m * d + L * (m * d + m) + L + L * (2 * m + mh * m + mh + m * mh + m) + 2 * m + d * m);
}

TEST_CASE("side net: init is deterministic, bounded, and leaves the output at h_L exactly") {
  const SideShape s = side_shape(64, 3, 8);
  SideNet<float> a(s, 5, false), b(s, 5, false), c(s, 5, false);
  a.init(42);
  b.init(42);
  c.init(43);
  CHECK(std::memcmp(a.params(), b.params(), sizeof(float) * a.size()) == 0);
  CHECK(std::memcmp(a.params(), c.params(), sizeof(float) * a.size()) != 0);
  for (const SideTensor& t : side_tensors(s)) {
    CAPTURE(t.name);
    const float* p = a.params() + t.offset;
    const bool ln_weight = t.name.find("ln.weight") != std::string::npos;
    const bool random = t.shape.size() == 2 && t.name != "side.up.weight";
    const float bound = random ? 1.0f / std::sqrt(static_cast<float>(t.shape[1])) : 0.0f;
    bool ok = true, varied = false;
    for (std::int64_t i = 0; i < t.numel; ++i) {
      if (random) {
        ok = ok && p[i] >= -bound && p[i] < bound;
        varied = varied || p[i] != p[0];
      } else {
        ok = ok && p[i] == (ln_weight ? 1.0f : 0.0f);
      }
    }
    CHECK(ok);
    if (random) CHECK(varied);
  }
  const std::int64_t rows = 5, d = 64, L = 3;
  const auto h = test::random_floats(static_cast<std::size_t>(rows * (L + 1) * d), 3, -3.0f, 3.0f);
  std::vector<float> o(static_cast<std::size_t>(rows * d));
  run_forward(a, h.data(), rows, o.data(), d);
  bool same = true;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < d; ++j)
      same = same && o[r * d + j] == h[(r * (L + 1) + L) * d + j];
  }
  CHECK(same);
}

TEST_CASE("side net: float agrees with double; train and inference forwards are equal") {
  const SideShape s = side_shape(64, 2, 4);
  const std::int64_t rows = 4, d = 64, L = 2;
  SideNet<double> ref(s, rows, true);
  randomize(ref, 5);
  SideNet<float> train(s, rows, true), infer(s, rows, false);
  for (std::int64_t i = 0; i < ref.size(); ++i) {
    train.params()[i] = infer.params()[i] = static_cast<float>(ref.params()[i]);
  }
  const auto hf = test::random_floats(static_cast<std::size_t>(rows * (L + 1) * d), 6, -2.0f, 2.0f);
  const std::vector<double> hd(hf.begin(), hf.end());
  std::vector<double> od(static_cast<std::size_t>(rows * d));
  std::vector<float> ot(od.size()), oi(od.size());
  run_forward(ref, hd.data(), rows, od.data(), d);
  run_forward(train, hf.data(), rows, ot.data(), d);
  run_forward(infer, hf.data(), rows, oi.data(), d);
  const std::vector<float> od_f(od.begin(), od.end());
  CHECK(test::max_rel_error(ot.data(), od_f.data(), ot.size()) < 1e-5);
  CHECK(std::memcmp(ot.data(), oi.data(), sizeof(float) * rows * d) == 0);
  // Fewer rows than the maximum (BLAS may sum in another order for another M).
  std::vector<float> fewer(oi.size());
  run_forward(infer, hf.data(), rows - 1, fewer.data(), d);
  CHECK(test::max_rel_error(fewer.data(), ot.data(), (rows - 1) * d) < 1e-6);

  // o may be h_L itself.
  std::vector<float> h_inplace = hf;
  run_forward(infer, h_inplace.data(), rows, h_inplace.data() + L * d, (L + 1) * d);
  bool same = true;
  for (std::int64_t r = 0; r < rows; ++r) {
    same = same && std::memcmp(h_inplace.data() + (r * (L + 1) + L) * d, ot.data() + r * d,
                               sizeof(float) * d) == 0;
  }
  CHECK(same);
}

TEST_CASE("side net: forward and backward allocate nothing after construction") {
  test::TempDir dir;
  test::make_head_model(HeadKind::kRoberta, dir.path());
  const Model model(dir.path());
  const SideShape s = side_shape(64, 2, 8);
  const std::int64_t rows = 3, d = 64, L = 2;
  SideNet<float> net(s, rows, true);
  net.init(1);
  FrozenHead<float> head(model, {4, 9}, rows, true);
  const auto h = test::random_floats(static_cast<std::size_t>(rows * (L + 1) * d), 7);
  std::vector<float> o(static_cast<std::size_t>(rows * d)), d_o(o.size()), logits(rows * 2);
  const std::int32_t targets[rows] = {0, 1, 1};
  const long before = test::allocation_count();
  run_forward(net, h.data(), rows, o.data(), d);
  head.forward(o.data(), d, rows, logits.data());
  softmax_cross_entropy<float>(logits.data(), 2, rows, 2, targets, 1.0f, logits.data(), nullptr);
  head.backward(logits.data(), d_o.data());
  net.backward(d_o.data(), d);
  CHECK(test::allocation_count() == before);
}

TEST_CASE(
    "side net: gradients of side net + frozen head + cross-entropy match finite differences") {
  for (HeadKind kind : test::kHeadKinds) {
    CAPTURE(test::head_kind_name(kind));
    test::TempDir dir;
    test::make_head_model(kind, dir.path());
    const Model model(dir.path());
    const SideShape s = side_shape(64, 2, 8);
    const std::int64_t rows = 3, d = 64, L = 2;
    SideNet<double> net(s, rows, true);
    randomize(net, 9);
    // Llama: the lm loss over the whole vocabulary; the others: classification over candidates.
    const bool lm = kind == HeadKind::kLlama;
    FrozenHead<double> head(model, lm ? std::vector<std::int32_t>{} : std::vector{7, 300, 2, 51},
                            rows, true);
    const std::int64_t C = head.outputs();
    const std::int32_t targets[rows] = {lm ? 700 : 1, 3, 0};
    const auto h =
        test::random_doubles(static_cast<std::size_t>(rows * (L + 1) * d), 10, -1.5, 1.5);
    std::vector<double> o(static_cast<std::size_t>(rows * d)), d_o(o.size());
    std::vector<double> logits(static_cast<std::size_t>(rows * C));
    auto loss = [&] {
      run_forward(net, h.data(), rows, o.data(), d);
      head.forward(o.data(), d, rows, logits.data());
      return softmax_cross_entropy<double>(logits.data(), C, rows, C, targets, 1.0, nullptr,
                                           nullptr);
    };
    run_forward(net, h.data(), rows, o.data(), d);
    head.forward(o.data(), d, rows, logits.data());
    softmax_cross_entropy<double>(logits.data(), C, rows, C, targets, 1.0, logits.data(), nullptr);
    head.backward(logits.data(), d_o.data());
    net.backward(d_o.data(), d);
    const std::vector<double> grads(net.grads(), net.grads() + net.size());

    // Up to 16 elements of every tensor, spread over it.
    std::vector<std::int64_t> sample;
    for (const SideTensor& t : side_tensors(s)) {
      const std::int64_t n = std::min<std::int64_t>(t.numel, 16);
      for (std::int64_t i = 0; i < n; ++i)
        sample.push_back(t.offset + (i * t.numel) / n + (i * 7) % (t.numel / n));
    }
    REQUIRE(sample.size() >= 200);
    bool nonzero = true;
    for (const SideTensor& t : side_tensors(s)) {
      double norm = 0.0;
      for (std::int64_t i = 0; i < t.numel; ++i) norm += std::fabs(grads[t.offset + i]);
      CAPTURE(t.name);
      nonzero = nonzero && norm > 0.0;
    }
    CHECK(nonzero);
    // Step 1e-5: the loss sums three rows of cross-entropy (~10), so rounding noise of a 1e-6 step
    // would be ~1e-9 absolute, at the tolerance for the smallest gradients.
    CHECK(test::gradient_error(net.params(), grads.data(), sample, loss, 1e-5) < 1e-6);
  }
}

}  // namespace pocket
