#include "kernels/residual.h"

#include <doctest/doctest.h>

#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("residual_add adds elementwise; " POCKET_SIMD_NAME " equals ref bit for bit") {
  std::vector<int> sizes = test::edge_sizes();
  sizes.push_back(100003);  // split over threads
  for (int n : sizes) {
    INFO("n = " << n);
    const auto y0 = test::random_floats(n, n), x = test::random_floats(n, n + 1);
    std::vector<float> ref = y0, fast = y0;
    residual_add_ref(ref.data(), x.data(), n);
    residual_add(fast.data(), x.data(), n);
    for (int i = 0; i < n; ++i) REQUIRE(ref[i] == y0[i] + x[i]);
    REQUIRE(fast == ref);
  }
}
