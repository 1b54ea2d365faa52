#include "kernels/perturb.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

std::vector<int> test_sizes() {
  std::vector<int> sizes = test::edge_sizes();
  for (int n : {1000, 16384, 16385, 40001}) sizes.push_back(n);
  return sizes;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

}  // namespace

TEST_CASE("perturb_copy (" POCKET_SIMD_NAME ") and perturb_copy_ref match the definition") {
  const std::uint64_t key = z_key(1234, fnv1a64("model.decoder.layers.0.fc1.bias"));
  for (std::uint64_t index_base : {0ull, 5ull, 63ull, 131ull, (1ull << 33) + 64}) {
    for (float scale : {1e-3f, -0.25f}) {
      for (int n : test_sizes()) {
        INFO("n = " << n << " index_base = " << index_base << " scale = " << scale);
        const auto src = test::random_floats(n, 7 + n);
        std::vector<float> want(n), ref(n, 99.0f), fast(n, 99.0f);
        for (int i = 0; i < n; ++i) {
          const float z = z_sign(key, index_base + i);
          REQUIRE((z == 1.0f || z == -1.0f));
          want[i] = src[i] + scale * z;  // one fp32 add: scale * z is exact
        }
        perturb_copy_ref(src.data(), ref.data(), n, key, scale, index_base);
        perturb_copy(src.data(), fast.data(), n, key, scale, index_base);
        REQUIRE(same_bits(ref, want));
        REQUIRE(same_bits(fast, want));
        // in place gives the same
        auto in_place = src;
        perturb_copy(in_place.data(), in_place.data(), n, key, scale, index_base);
        REQUIRE(same_bits(in_place, want));
      }
    }
  }
}

TEST_CASE("perturb_copy: pieces with their index_base equal the whole; z of zeros is z") {
  const std::uint64_t key = z_key(5, fnv1a64("model.norm.weight"));
  const int n = 1001;
  const std::vector<float> zeros(n, 0.0f);
  std::vector<float> whole(n), pieces(n);
  perturb_copy(zeros.data(), whole.data(), n, key, 1.0f, 0);
  int plus = 0;
  for (int i = 0; i < n; ++i) {
    REQUIRE(whole[i] == z_sign(key, i));
    plus += whole[i] > 0;
  }
  CHECK(plus > n / 4);
  CHECK(plus < 3 * n / 4);
  const int cuts[] = {0, 3, 64, 65, 66, 500, n};
  for (std::size_t c = 0; c + 1 < std::size(cuts); ++c) {
    const int begin = cuts[c], end = cuts[c + 1];
    perturb_copy(zeros.data() + begin, pieces.data() + begin, end - begin, key, 1.0f, begin);
  }
  REQUIRE(same_bits(pieces, whole));
}

TEST_CASE("perturb_copy is bit-identical for 1, 2 and 4 threads") {
  const std::size_t n = 100003;
  const auto src = test::random_floats(n, 11);
  const std::uint64_t key = z_key(8, 9);
  std::vector<float> first;
  for (int threads : {1, 2, 4}) {
    INFO("threads = " << threads);
    set_num_threads(threads);
    std::vector<float> out(n);
    perturb_copy(src.data(), out.data(), n, key, 3e-3f, 17);
    if (first.empty()) {
      first = out;
    } else {
      REQUIRE(same_bits(out, first));
    }
  }
  set_num_threads(0);
}
