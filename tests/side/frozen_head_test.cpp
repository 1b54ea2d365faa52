// FrozenHead against the same head composed from pocket's own kernels (what Session::run_head
// runs), for every head layout, candidate rows and the whole vocabulary; its backward (d_o)
// against finite differences in double.
#include "side/frozen_head.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "io/error.h"
#include "kernels/activations.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/rmsnorm.h"
#include "model/model.h"
#include "side_test_util.h"
#include "test_util.h"

namespace pocket {
namespace {

using test::HeadKind;

// logits[P, vocab] of o[P, d] (row stride ldo) through the kernels, as run_head does.
std::vector<float> kernel_head(const Model& model, const float* o, std::int64_t ldo,
                               std::int64_t P) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const std::int64_t d = c.hidden, E = c.embed_dim, V = c.vocab_size;
  std::vector<float> x(static_cast<std::size_t>(P * d)), y(static_cast<std::size_t>(P * d));
  for (std::int64_t r = 0; r < P; ++r) std::copy(o + r * ldo, o + r * ldo + d, x.begin() + r * d);
  if (c.final_norm) {
    if (c.norm == Norm::kRmsNorm) {
      rmsnorm(x.data(), x.data(), P, d, w.final_norm.weight->f32, c.norm_eps);
    } else {
      layernorm(x.data(), x.data(), P, d, w.final_norm.weight->f32, w.final_norm.bias->f32,
                c.norm_eps);
    }
  }
  if (w.project_out) {
    const GemmStream st{x.data(), y.data(), w.project_out.bias ? w.project_out.bias->f32 : nullptr};
    gemm(P, w.project_out.weight->view, 1, &st, d, E);
    std::swap(x, y);
  }
  if (w.mlm_dense) {
    const GemmStream st{x.data(), y.data(), w.mlm_dense.bias->f32};
    gemm(P, w.mlm_dense.weight->view, 1, &st, E, d);
    gelu(y.data(), y.data(), P * d);
    layernorm(y.data(), y.data(), P, d, w.mlm_norm.weight->f32, w.mlm_norm.bias->f32,
              c.norm_eps);
    std::swap(x, y);
  }
  std::vector<float> logits(static_cast<std::size_t>(P * V));
  const GemmStream st{x.data(), logits.data(), w.head.bias ? w.head.bias->f32 : nullptr};
  gemm(P, w.head.weight->view, 1, &st, E, V);
  return logits;
}

}  // namespace

TEST_CASE("side frozen head: float forward equals the kernels' head (run_head) within 1e-4") {
  for (HeadKind kind : test::kHeadKinds) {
    CAPTURE(test::head_kind_name(kind));
    test::TempDir dir;
    test::make_head_model(kind, dir.path());
    const Model model(dir.path());
    const std::int64_t d = model.config().hidden, V = model.config().vocab_size, P = 3;
    const std::int64_t ldo = d + 4;
    const auto o = test::random_floats(static_cast<std::size_t>(P * ldo), 21, -2.0f, 2.0f);
    const std::vector<float> want = kernel_head(model, o.data(), ldo, P);
    const std::vector<std::int32_t> candidates = {5, 17, 900, 3, 17};
    for (bool full : {false, true}) {
      CAPTURE(full);
      FrozenHead<float> head(model, full ? std::vector<std::int32_t>{} : candidates, 4, false);
      const std::int64_t C = full ? V : static_cast<std::int64_t>(candidates.size());
      REQUIRE(head.outputs() == C);
      std::vector<float> got(static_cast<std::size_t>(P * C)), expect(got.size());
      head.forward(o.data(), ldo, P, got.data());
      for (std::int64_t r = 0; r < P; ++r) {
        for (std::int64_t j = 0; j < C; ++j) {
          const std::int64_t col = full ? j : candidates[static_cast<std::size_t>(j)];
          expect[static_cast<std::size_t>(r * C + j)] = want[static_cast<std::size_t>(r * V + col)];
        }
      }
      CHECK(test::max_rel_error(got.data(), expect.data(), got.size()) < 1e-4);
    }
  }
}

TEST_CASE("side frozen head: backward (d_o) matches finite differences in double") {
  for (HeadKind kind : test::kHeadKinds) {
    CAPTURE(test::head_kind_name(kind));
    test::TempDir dir;
    test::make_head_model(kind, dir.path());
    const Model model(dir.path());
    const std::int64_t d = model.config().hidden, P = 2;
    FrozenHead<double> head(model, {8, 100, 1023, 0}, P, true);
    const std::int64_t C = head.outputs();
    auto o = test::random_doubles(static_cast<std::size_t>(P * d), 22, -2.0, 2.0);
    const auto c = test::random_doubles(static_cast<std::size_t>(P * C), 23);
    std::vector<double> logits(static_cast<std::size_t>(P * C));
    auto loss = [&] {
      head.forward(o.data(), d, P, logits.data());
      double s = 0.0;
      for (std::size_t i = 0; i < logits.size(); ++i) s += c[i] * logits[i];
      return s;
    };
    loss();
    std::vector<double> d_o(o.size());
    head.backward(c.data(), d_o.data());
    std::vector<std::int64_t> sample;  // every third element: each row and column is hit
    for (std::size_t i = 0; i < o.size(); i += 3) sample.push_back(static_cast<std::int64_t>(i));
    CHECK(test::gradient_error(o, d_o, sample, loss) < 1e-6);
  }
}

TEST_CASE("side frozen head: a candidate outside the vocabulary is a one-line error") {
  test::TempDir dir;
  test::make_head_model(HeadKind::kOpt, dir.path());
  const Model model(dir.path());
  CHECK_THROWS_WITH_AS(FrozenHead<float>(model, {3, 1024}, 1, false),
                       "frozen head: token id 1024 is outside the vocabulary of 1024", Error);
  CHECK_THROWS_AS(FrozenHead<float>(model, {-1}, 1, false), Error);
}

}  // namespace pocket
