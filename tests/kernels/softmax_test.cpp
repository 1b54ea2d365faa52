#include "kernels/softmax.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("softmax_ref matches double precision and sums to 1; softmax (" POCKET_SIMD_NAME
          ") matches ref") {
  const int rows = 3;
  for (int n : test::edge_sizes()) {
    for (int len : {1, (n + 1) / 2, n}) {
      INFO("n = " << n << ", len = " << len);
      const auto x = test::random_floats(rows * n, n + len, -8.0f, 8.0f);
      std::vector<float> ref = x, fast = x;
      softmax_ref(ref.data(), rows, n, len);
      softmax(fast.data(), rows, n, len);
      for (int r = 0; r < rows; ++r) {
        const float* xr = x.data() + r * n;
        const double max = *std::max_element(xr, xr + len);
        double sum = 0.0;
        for (int i = 0; i < len; ++i) sum += std::exp(xr[i] - max);
        std::vector<float> want(n, 0.0f);
        for (int i = 0; i < len; ++i) want[i] = static_cast<float>(std::exp(xr[i] - max) / sum);
        CHECK(test::max_rel_error(ref.data() + r * n, want.data(), n) < 1e-6);
        double ref_sum = 0.0, fast_sum = 0.0;
        for (int i = 0; i < n; ++i) ref_sum += ref[r * n + i], fast_sum += fast[r * n + i];
        CHECK(std::fabs(ref_sum - 1.0) < 1e-5);
        CHECK(std::fabs(fast_sum - 1.0) < 1e-5);
        for (int i = len; i < n; ++i) REQUIRE(fast[r * n + i] == 0.0f);
      }
      CHECK(test::max_rel_error(fast.data(), ref.data(), ref.size()) < 2e-6);
    }
  }
}

TEST_CASE("softmax: huge logits do not overflow; equal logits give a uniform row") {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f,  -1e30f,  1000.0f, 1000.0f,
                          1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f,
                          1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f};
  const int n = static_cast<int>(x.size());
  std::vector<float> ref = x, fast = x;
  softmax_ref(ref.data(), 1, n);
  softmax(fast.data(), 1, n);
  for (int i = 0; i < n; ++i) {
    REQUIRE(std::isfinite(ref[i]));
    REQUIRE(std::isfinite(fast[i]));
  }
  CHECK(ref[3] == 0.0f);
  CHECK(fast[3] == 0.0f);
  CHECK(ref[1] / ref[0] == doctest::Approx(std::exp(1.0)).epsilon(1e-5));
  CHECK(fast[1] / fast[0] == doctest::Approx(std::exp(1.0)).epsilon(1e-5));

  std::vector<float> flat(100, -3.5f);
  softmax(flat.data(), 1, 100);
  for (float p : flat) REQUIRE(p == doctest::Approx(0.01).epsilon(1e-6));
}

TEST_CASE("softmax over many rows (threaded) equals row by row") {
  const int rows = 1000, n = 197;
  const auto x = test::random_floats(rows * n, 9, -20.0f, 20.0f);
  std::vector<float> all = x, one_by_one = x;
  softmax(all.data(), rows, n);
  for (int r = 0; r < rows; ++r) softmax(one_by_one.data() + r * n, 1, n);
  CHECK(all == one_by_one);
}
