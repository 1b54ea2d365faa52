#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

struct Problem {
  std::int64_t M, N, K, ldx, ldw, ldy;
  std::vector<float> x, bias, y0;
  std::vector<fp16> w;

  Problem(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t pad = 0,
          std::uint32_t seed = 1)
      : M(m), N(n), K(k), ldx(k + pad), ldw(k + pad), ldy(n + pad) {
    x = test::random_floats(M * ldx, seed);
    w = test::random_f16(N * ldw, seed + 1, 0.5f);
    bias = test::random_floats(N, seed + 2);
    y0 = test::random_floats(M * ldy, seed + 3);
  }
};

const std::vector<const GemmKernel*> kernels() {
  std::vector<const GemmKernel*> all = {&gemm_kernel_scalar()};
  if (&gemm_kernel_native() != &gemm_kernel_scalar()) all.push_back(&gemm_kernel_native());
  return all;
}

// Tolerance of fp32 sums in a different order: a few ulps of the largest partial sum, which the
// reference's magnitude bounds up to sqrt(K) growth.
double tolerance(std::int64_t K) { return 2e-6 * (4.0 + std::sqrt(static_cast<double>(K))); }

}  // namespace

TEST_CASE("gemm matches the scalar reference on edge sizes, with bias, accumulate and strides") {
  const std::vector<std::int64_t> ms = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 65};
  const std::vector<std::int64_t> ns = {1, 5, 6, 7, 12, 13, 63, 64, 65};
  const std::vector<std::int64_t> ks = {0, 1, 7, 15, 16, 17, 63, 64, 65, 255, 257, 513, 1100};
  for (const GemmKernel* kernel : kernels()) {
    for (std::int64_t M : ms) {
      for (std::int64_t N : ns) {
        for (std::int64_t K : ks) {
          const int pad = static_cast<int>((M + N + K) % 3);
          Problem p(M, N, K, pad, static_cast<std::uint32_t>(M * 1000 + N * 10 + K));
          for (int variant = 0; variant < 3; ++variant) {
            const bool accumulate = variant == 2;
            const float* bias = variant >= 1 ? p.bias.data() : nullptr;
            std::vector<float> want = p.y0, got = p.y0;
            gemm_f16w_ref(M, N, K, p.x.data(), p.ldx, p.w.data(), p.ldw, want.data(), p.ldy, bias,
                          accumulate, nullptr);
            GemmOptions options;
            options.bias = bias;
            options.accumulate = accumulate;
            options.kernel = kernel;
            gemm_f16w(M, N, K, p.x.data(), p.ldx, p.w.data(), p.ldw, got.data(), p.ldy, options);
            INFO(std::string(kernel->blocking.isa) << " M=" << M << " N=" << N << " K=" << K
                                      << " variant=" << variant);
            REQUIRE(test::max_rel_error(got.data(), want.data(), got.size()) <= tolerance(K));
            // Padding columns of Y are never touched.
            for (std::int64_t m = 0; m < M; ++m) {
              for (std::int64_t n = N; n < p.ldy; ++n) {
                REQUIRE(got[m * p.ldy + n] == p.y0[m * p.ldy + n]);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("scalar kernel through the blocked driver equals the reference bit for bit (K <= KC)") {
  const int kc = gemm_kernel_scalar().blocking.kc;
  for (std::int64_t K : {1, 9, 100, static_cast<int>(kc)}) {
    Problem p(13, 11, K);
    std::vector<float> want = p.y0, got = p.y0;
    gemm_f16w_ref(p.M, p.N, K, p.x.data(), p.ldx, p.w.data(), p.ldw, want.data(), p.ldy,
                  p.bias.data(), true, nullptr);
    GemmOptions options{p.bias.data(), true, &gemm_kernel_scalar()};
    gemm_f16w(p.M, p.N, K, p.x.data(), p.ldx, p.w.data(), p.ldw, got.data(), p.ldy, options);
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("gemm results are bit-identical for 1, 2, 3 and 4 threads") {
  for (std::int64_t M : {1, 16, 70}) {
    Problem p(M, 200, 700);
    const std::vector<float> x_minus = test::random_floats(p.x.size(), 5);
    GemmPerturbation pert{z_key(3, fnv1a64("w")), 1e-3f, 0};
    std::vector<float> first, first_plus, first_minus;
    for (int threads = 1; threads <= 4; ++threads) {
      set_num_threads(threads);
      std::vector<float> y = p.y0, yp = p.y0, ym = p.y0;
      gemm_f16w(M, p.N, p.K, p.x.data(), p.ldx, p.w.data(), p.ldw, y.data(), p.ldy,
                {p.bias.data(), false, nullptr});
      gemm_f16w_two_stream(M, p.N, p.K, p.x.data(), x_minus.data(), p.ldx, p.w.data(), p.ldw,
                           yp.data(), ym.data(), p.ldy, pert);
      if (threads == 1) {
        first = y;
        first_plus = yp;
        first_minus = ym;
      } else {
        INFO("M=" << M << " threads=" << threads);
        REQUIRE(std::memcmp(y.data(), first.data(), y.size() * 4) == 0);
        REQUIRE(std::memcmp(yp.data(), first_plus.data(), y.size() * 4) == 0);
        REQUIRE(std::memcmp(ym.data(), first_minus.data(), y.size() * 4) == 0);
      }
    }
  }
  set_num_threads(0);
}

TEST_CASE("perturbed gemm equals a gemm over an explicitly materialised W + c·z") {
  const std::uint64_t key = z_key(42, fnv1a64("model.decoder.layers.0.fc1.weight"));
  for (const GemmKernel* kernel : kernels()) {
    for (std::int64_t K : {1, 17, 64, 300, 600}) {
      Problem p(9, 37, K, 3);
      const float c = 0.01f;
      // W' as fp16-exact fp32 values plus c·z, materialised; the GEMM over it runs in double.
      std::vector<double> want(p.M * p.N);
      for (std::int64_t m = 0; m < p.M; ++m) {
        for (std::int64_t n = 0; n < p.N; ++n) {
          double acc = p.bias[n];
          for (std::int64_t k = 0; k < K; ++k) {
            const float wp = f16_to_f32_scalar(p.w[n * p.ldw + k]) +
                             c * z_sign(key, static_cast<std::uint64_t>(n * p.ldw + k));
            acc += static_cast<double>(p.x[m * p.ldx + k]) * wp;
          }
          want[m * p.N + n] = acc;
        }
      }
      std::vector<float> got(p.M * p.ldy);
      GemmPerturbation pert{key, c, 0};
      gemm_f16w(p.M, p.N, K, p.x.data(), p.ldx, p.w.data(), p.ldw, got.data(), p.ldy,
                {p.bias.data(), false, kernel}, &pert);
      double scale = 1e-30, err = 0;
      for (std::int64_t m = 0; m < p.M; ++m) {
        for (std::int64_t n = 0; n < p.N; ++n) {
          scale = std::max(scale, std::fabs(want[m * p.N + n]));
          err = std::max(err, std::fabs(got[m * p.ldy + n] - want[m * p.N + n]));
        }
      }
      INFO(std::string(kernel->blocking.isa) << " K=" << K);
      REQUIRE(err / scale <= tolerance(K));
    }
  }
}

TEST_CASE("two-stream gemm equals two perturbed gemms and never writes W") {
  const std::uint64_t key = z_key(7, fnv1a64("q_proj"));
  for (const GemmKernel* kernel : kernels()) {
    for (std::int64_t M : {1, 5, 64}) {
      Problem p(M, 45, 530, 1);
      const std::vector<float> x_minus = test::random_floats(p.x.size(), 99);
      const std::vector<float> bias_minus = test::random_floats(p.N, 98);
      const std::vector<fp16> w_before = p.w;
      const float eps = 1e-3f;
      std::vector<float> yp(p.M * p.ldy), ym(p.M * p.ldy), want_p(yp.size()), want_m(ym.size());
      GemmPerturbation plus{key, eps, 0}, minus{key, -eps, 0};
      gemm_f16w(M, p.N, p.K, p.x.data(), p.ldx, p.w.data(), p.ldw, want_p.data(), p.ldy,
                {p.bias.data(), false, kernel}, &plus);
      gemm_f16w(M, p.N, p.K, x_minus.data(), p.ldx, p.w.data(), p.ldw, want_m.data(), p.ldy,
                {bias_minus.data(), false, kernel}, &minus);
      gemm_f16w_two_stream(M, p.N, p.K, p.x.data(), x_minus.data(), p.ldx, p.w.data(), p.ldw,
                           yp.data(), ym.data(), p.ldy, plus, {p.bias.data(), bias_minus.data()},
                           {nullptr, false, kernel});
      INFO(std::string(kernel->blocking.isa) << " M=" << M);
      REQUIRE(std::memcmp(yp.data(), want_p.data(), yp.size() * 4) == 0);
      REQUIRE(std::memcmp(ym.data(), want_m.data(), ym.size() * 4) == 0);
      REQUIRE(std::memcmp(p.w.data(), w_before.data(), p.w.size() * 2) == 0);
      // And the perturbation is real: Y₊ differs from the unperturbed product.
      std::vector<float> plain(yp.size());
      gemm_f16w(M, p.N, p.K, p.x.data(), p.ldx, p.w.data(), p.ldw, plain.data(), p.ldy,
                {p.bias.data(), false, kernel});
      CHECK(std::memcmp(yp.data(), plain.data(), yp.size() * 4) != 0);
    }
  }
}

TEST_CASE("perturbing a row slice uses the tensor's flat index (index_base)") {
  // Rows [10, 30) of a [40, K] tensor: the slice's z must be the tensor's z at those rows.
  const std::int64_t K = 97, rows = 40, r0 = 10, n = 20;
  Problem p(3, rows, K);
  const std::uint64_t key = z_key(1, fnv1a64("fused.qkv.weight"));
  std::vector<float> full(p.M * rows), slice(p.M * n);
  GemmPerturbation whole{key, 0.05f, 0}, part{key, 0.05f, r0 * p.ldw};
  gemm_f16w(p.M, rows, K, p.x.data(), p.ldx, p.w.data(), p.ldw, full.data(), rows, {}, &whole);
  gemm_f16w(p.M, n, K, p.x.data(), p.ldx, p.w.data() + r0 * p.ldw, p.ldw, slice.data(), n, {},
            &part);
  for (std::int64_t m = 0; m < p.M; ++m) {
    for (std::int64_t j = 0; j < n; ++j) REQUIRE(slice[m * n + j] == full[m * rows + r0 + j]);
  }
}

TEST_CASE("gemm scratch is reserved once: repeated calls do not grow it") {
  Problem p(33, 64, 700);
  std::vector<float> y(p.M * p.ldy);
  gemm_f16w(p.M, p.N, p.K, p.x.data(), p.ldx, p.w.data(), p.ldw, y.data(), p.ldy);
  const std::size_t after_first = default_pool().scratch_bytes();
  CHECK(after_first >= gemm_scratch_bytes(gemm_kernel_native(), p.M, p.K, 1));
  for (int i = 0; i < 3; ++i) {
    gemm_f16w(p.M, p.N, p.K, p.x.data(), p.ldx, p.w.data(), p.ldw, y.data(), p.ldy);
  }
  CHECK(default_pool().scratch_bytes() == after_first);
}
