#include "kernels/embedding.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("embedding_gather copies fp16 rows to fp32 (+ addend); " POCKET_SIMD_NAME " equals ref") {
  const int vocab = 97;
  for (int d : test::edge_sizes()) {
    for (int n : {1, 5, 300}) {
      for (bool with_addend : {false, true}) {
        INFO("d = " << d << ", n = " << n << ", addend = " << with_addend);
        const auto table = test::random_f16(vocab * d, d, 2.0f);
        std::vector<std::int32_t> ids(n);
        for (int i = 0; i < n; ++i) ids[i] = (i * 31 + 7) % vocab;
        ids[0] = vocab - 1;  // the last row too
        const auto addend = test::random_floats(n * d, n + d);
        const float* add = with_addend ? addend.data() : nullptr;
        std::vector<float> ref(n * d), fast(n * d);
        embedding_gather_ref(table.data(), vocab, d, ids.data(), n, add, ref.data());
        embedding_gather(table.data(), vocab, d, ids.data(), n, add, fast.data());
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < d; ++j) {
            const float e = f16_to_f32_scalar(table[ids[i] * d + j]);
            REQUIRE(ref[i * d + j] == (with_addend ? e + addend[i * d + j] : e));
          }
        }
        REQUIRE(fast == ref);
      }
    }
  }
}
