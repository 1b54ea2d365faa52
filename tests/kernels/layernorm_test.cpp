#include "kernels/layernorm.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

namespace {
// Independent double-precision layer norm of one row.
std::vector<double> layernorm_double(const float* x, int C, const float* w, const float* b,
                                     double eps) {
  double mean = 0.0, var = 0.0;
  for (int i = 0; i < C; ++i) mean += x[i];
  mean /= C;
  for (int i = 0; i < C; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= C;
  std::vector<double> out(C);
  for (int i = 0; i < C; ++i)
    out[i] = (x[i] - mean) / std::sqrt(var + eps) * w[i] + (b ? b[i] : 0.0);
  return out;
}
}  // namespace

TEST_CASE("layernorm_ref matches double precision; layernorm (" POCKET_SIMD_NAME ") matches ref") {
  const int rows = 5;
  for (int C : test::edge_sizes()) {
    for (bool with_bias : {true, false}) {
      INFO("C = " << C << ", bias = " << with_bias);
      // An offset of 3 makes the mean large against the spread, where E[x²]-mean² would fail.
      const auto x = test::random_floats(rows * C, C, 2.0f, 4.0f);
      const auto w = test::random_floats(C, C + 1, 0.5f, 1.5f);
      const auto b = test::random_floats(C, C + 2);
      const float* bias = with_bias ? b.data() : nullptr;
      std::vector<float> ref(rows * C), fast(rows * C);
      layernorm_ref(x.data(), ref.data(), rows, C, w.data(), bias, 1e-5f);
      layernorm(x.data(), fast.data(), rows, C, w.data(), bias, 1e-5f);
      for (int r = 0; r < rows; ++r) {
        const auto want = layernorm_double(x.data() + r * C, C, w.data(), bias, 1e-5);
        std::vector<float> want_f(want.begin(), want.end());
        CHECK(test::max_rel_error(ref.data() + r * C, want_f.data(), C) < 1e-5);
      }
      CHECK(test::max_rel_error(fast.data(), ref.data(), ref.size()) < 1e-5);
    }
  }
}

TEST_CASE("layernorm: normalised rows have mean 0 and variance 1; in place works") {
  const int rows = 300, C = 768;  // large enough to be split over threads
  auto x = test::random_floats(rows * C, 11, -5.0f, 7.0f);
  const std::vector<float> ones(C, 1.0f), zeros(C, 0.0f);
  std::vector<float> out(x.size());
  layernorm(x.data(), out.data(), rows, C, ones.data(), zeros.data(), 0.0f);
  for (int r = 0; r < rows; ++r) {
    double mean = 0.0, sq = 0.0;
    for (int i = 0; i < C; ++i) mean += out[r * C + i];
    for (int i = 0; i < C; ++i) sq += out[r * C + i] * out[r * C + i];
    REQUIRE(std::fabs(mean / C) < 1e-5);
    REQUIRE(std::fabs(sq / C - 1.0) < 1e-4);
  }
  layernorm(x.data(), x.data(), rows, C, ones.data(), zeros.data(), 0.0f);
  CHECK(x == out);
}

TEST_CASE("layernorm: a constant row gives the bias (eps keeps it finite)") {
  const int C = 33;
  const std::vector<float> x(C, 4.25f), w(C, 2.0f);
  const auto b = test::random_floats(C, 3);
  std::vector<float> ref(C), fast(C);
  layernorm_ref(x.data(), ref.data(), 1, C, w.data(), b.data(), 1e-5f);
  layernorm(x.data(), fast.data(), 1, C, w.data(), b.data(), 1e-5f);
  for (int i = 0; i < C; ++i) {
    CHECK(ref[i] == b[i]);
    CHECK(fast[i] == b[i]);
  }
}
