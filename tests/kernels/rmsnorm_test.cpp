#include "kernels/rmsnorm.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("rmsnorm_ref matches double precision; rmsnorm (" POCKET_SIMD_NAME ") matches ref") {
  const int rows = 4;
  for (int C : test::edge_sizes()) {
    INFO("C = " << C);
    const auto x = test::random_floats(rows * C, C, -3.0f, 3.0f);
    const auto w = test::random_floats(C, C + 1, 0.5f, 1.5f);
    std::vector<float> ref(rows * C), fast(rows * C);
    rmsnorm_ref(x.data(), ref.data(), rows, C, w.data(), 1e-6f);
    rmsnorm(x.data(), fast.data(), rows, C, w.data(), 1e-6f);
    for (int r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * C;
      double ms = 0.0;
      for (int i = 0; i < C; ++i) ms += static_cast<double>(xr[i]) * xr[i];
      const double inv = 1.0 / std::sqrt(ms / C + 1e-6);
      std::vector<float> want(C);
      for (int i = 0; i < C; ++i) want[i] = static_cast<float>(xr[i] * inv * w[i]);
      CHECK(test::max_rel_error(ref.data() + r * C, want.data(), C) < 1e-5);
    }
    CHECK(test::max_rel_error(fast.data(), ref.data(), ref.size()) < 1e-5);
  }
}

TEST_CASE("rmsnorm: unit weight gives rows of root-mean-square 1; scale invariant; in place") {
  const int rows = 200, C = 2048;
  auto x = test::random_floats(rows * C, 5, -10.0f, 10.0f);
  const std::vector<float> ones(C, 1.0f);
  std::vector<float> out(x.size()), scaled_out(x.size());
  rmsnorm(x.data(), out.data(), rows, C, ones.data(), 0.0f);
  for (int r = 0; r < rows; ++r) {
    double ms = 0.0;
    for (int i = 0; i < C; ++i) ms += static_cast<double>(out[r * C + i]) * out[r * C + i];
    REQUIRE(std::fabs(ms / C - 1.0) < 1e-5);
  }
  std::vector<float> scaled(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) scaled[i] = 8.0f * x[i];  // exact: a power of two
  rmsnorm(scaled.data(), scaled_out.data(), rows, C, ones.data(), 0.0f);
  CHECK(scaled_out == out);
  rmsnorm(x.data(), x.data(), rows, C, ones.data(), 0.0f);
  CHECK(x == out);
}
