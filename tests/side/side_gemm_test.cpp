// side_gemm (OpenBLAS when built with it) and its own loops against the plain triple loop, for
// every transpose combination, odd sizes, padded leading dimensions, and beta 0 / 1 / other.
#include "side/side_gemm.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"

namespace pocket {
namespace {

template <class T>
void check_gemm(double tol) {
  const std::int64_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {8, 31, 16}, {5, 4, 0}};
  for (const auto& size : sizes) {
    const std::int64_t M = size[0], N = size[1], K = size[2];
    for (int trans = 0; trans < 4; ++trans) {
      const bool ta = trans & 1, tb = trans & 2;
      for (double beta : {0.0, 1.0, -0.5}) {
        CAPTURE(M);
        CAPTURE(N);
        CAPTURE(K);
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(beta);
        // Leading dimensions two wider than the rows.
        const std::int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 2, ldc = N + 3;
        const std::int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
        const auto af = test::random_floats(static_cast<std::size_t>(a_rows * lda + 1), 1);
        const auto bf = test::random_floats(static_cast<std::size_t>(b_rows * ldb + 1), 2);
        const auto cf = test::random_floats(static_cast<std::size_t>(M * ldc), 3);
        std::vector<T> A(af.begin(), af.end()), B(bf.begin(), bf.end()), C0(cf.begin(), cf.end());
        if (beta == 0.0) {  // C must not be read: NaN in it must not leak out
          std::fill(C0.begin(), C0.end(), std::numeric_limits<T>::quiet_NaN());
        }
        std::vector<T> ref = C0, fast = C0, loops = C0;
        const T alpha = T(0.75);
        side_gemm_ref<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, T(beta), ref.data(),
                         ldc);
        side_gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, T(beta), fast.data(),
                     ldc);
        side_gemm_loops<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, T(beta),
                           loops.data(), ldc);
        double err_fast = 0.0, err_loops = 0.0;
        bool gaps_kept = true;
        for (std::int64_t i = 0; i < M; ++i) {
          for (std::int64_t j = 0; j < ldc; ++j) {
            const std::size_t k = static_cast<std::size_t>(i * ldc + j);
            if (j >= N) {  // columns past N are not C's: untouched
              gaps_kept = gaps_kept &&
                          std::isnan(static_cast<double>(fast[k])) ==
                              std::isnan(static_cast<double>(C0[k])) &&
                          std::isnan(static_cast<double>(loops[k])) ==
                              std::isnan(static_cast<double>(C0[k]));
              continue;
            }
            // Written so that a NaN difference sticks (std::max would drop it).
            const double e_fast = std::fabs(double(fast[k]) - double(ref[k]));
            const double e_loops = std::fabs(double(loops[k]) - double(ref[k]));
            if (!(e_fast <= err_fast)) err_fast = e_fast;
            if (!(e_loops <= err_loops)) err_loops = e_loops;
          }
        }
        CHECK(gaps_kept);
        CHECK(err_fast <= tol);  // NaN fails
        CHECK(err_loops <= tol);
      }
    }
  }
}

}  // namespace

TEST_CASE("side gemm: float, all transposes, odd sizes, beta 0/1, against the triple loop") {
  check_gemm<float>(1e-5);
}

TEST_CASE("side gemm: double, all transposes, odd sizes, beta 0/1, against the triple loop") {
  check_gemm<double>(1e-12);
}

}  // namespace pocket
