#include "kernels/gemm.h"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

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

WeightView f16_view(const std::vector<fp16>& w, std::int64_t N, std::int64_t K, std::int64_t ldw,
                    std::int64_t row0 = 0) {
  return {WeightFormat::kF16, w.data() + row0 * ldw, nullptr, N, K, ldw};
}

// One stream, perturbed by (key, scale) when scale != 0.
void gemm1(std::int64_t M, const WeightView& w, const float* x, std::int64_t ldx, float* y,
           std::int64_t ldy, const float* bias, bool accumulate, const GemmKernel* kernel,
           std::uint64_t key = 0, float scale = 0.0f, std::int64_t index_base = 0) {
  const GemmStream stream{x, y, bias};
  WeightPerturbation z;
  z.streams = 1;
  z.key[0] = key;
  z.scale[0] = scale;
  z.index_base = index_base;
  gemm(M, w, 1, &stream, ldx, ldy, {accumulate, kernel}, scale != 0.0f ? &z : nullptr);
}

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
            const WeightView w = f16_view(p.w, N, K, p.ldw);
            gemm_ref(M, w, {p.x.data(), want.data(), bias}, p.ldx, p.ldy, accumulate);
            gemm1(M, w, p.x.data(), p.ldx, got.data(), p.ldy, bias, accumulate, kernel);
            INFO(std::string(kernel->blocking.isa)
                 << " M=" << M << " N=" << N << " K=" << K << " variant=" << variant);
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
    const WeightView w = f16_view(p.w, p.N, K, p.ldw);
    gemm_ref(p.M, w, {p.x.data(), want.data(), p.bias.data()}, p.ldx, p.ldy, true);
    gemm1(p.M, w, p.x.data(), p.ldx, got.data(), p.ldy, p.bias.data(), true, &gemm_kernel_scalar());
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("gemm results are bit-identical for 1, 2, 3 and 4 threads") {
  for (std::int64_t M : {1, 16, 70}) {
    Problem p(M, 200, 700);
    const std::vector<float> x_minus = test::random_floats(p.x.size(), 5);
    WeightPerturbation pert;
    pert.streams = 2;
    pert.key[0] = pert.key[1] = z_key(3, fnv1a64("w"));
    pert.scale[0] = 1e-3f;
    pert.scale[1] = -1e-3f;
    const WeightView w = f16_view(p.w, p.N, p.K, p.ldw);
    std::vector<float> first, first_plus, first_minus;
    for (int threads = 1; threads <= 4; ++threads) {
      set_num_threads(threads);
      std::vector<float> y = p.y0, yp = p.y0, ym = p.y0;
      gemm1(M, w, p.x.data(), p.ldx, y.data(), p.ldy, p.bias.data(), false, nullptr);
      const GemmStream pm[2] = {{p.x.data(), yp.data(), nullptr},
                                {x_minus.data(), ym.data(), nullptr}};
      gemm(M, w, 2, pm, p.ldx, p.ldy, {}, &pert);
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
      gemm1(p.M, f16_view(p.w, p.N, K, p.ldw), p.x.data(), p.ldx, got.data(), p.ldy, p.bias.data(),
            false, kernel, key, c);
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
      const WeightView w = f16_view(p.w, p.N, p.K, p.ldw);
      gemm1(M, w, p.x.data(), p.ldx, want_p.data(), p.ldy, p.bias.data(), false, kernel, key, eps);
      gemm1(M, w, x_minus.data(), p.ldx, want_m.data(), p.ldy, bias_minus.data(), false, kernel,
            key, -eps);
      WeightPerturbation pair;
      pair.streams = 2;
      pair.key[0] = pair.key[1] = key;
      pair.scale[0] = eps;
      pair.scale[1] = -eps;
      const GemmStream pm[2] = {{p.x.data(), yp.data(), p.bias.data()},
                                {x_minus.data(), ym.data(), bias_minus.data()}};
      gemm(M, w, 2, pm, p.ldx, p.ldy, {false, kernel}, &pair);
      INFO(std::string(kernel->blocking.isa) << " M=" << M);
      REQUIRE(std::memcmp(yp.data(), want_p.data(), yp.size() * 4) == 0);
      REQUIRE(std::memcmp(ym.data(), want_m.data(), ym.size() * 4) == 0);
      REQUIRE(std::memcmp(p.w.data(), w_before.data(), p.w.size() * 2) == 0);
      // And the perturbation is real: Y₊ differs from the unperturbed product.
      std::vector<float> plain(yp.size());
      gemm1(M, w, p.x.data(), p.ldx, plain.data(), p.ldy, p.bias.data(), false, kernel);
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
  gemm1(p.M, f16_view(p.w, rows, K, p.ldw), p.x.data(), p.ldx, full.data(), rows, nullptr, false,
        nullptr, key, 0.05f, 0);
  gemm1(p.M, f16_view(p.w, n, K, p.ldw, r0), p.x.data(), p.ldx, slice.data(), n, nullptr, false,
        nullptr, key, 0.05f, r0 * p.ldw);
  for (std::int64_t m = 0; m < p.M; ++m) {
    for (std::int64_t j = 0; j < n; ++j) REQUIRE(slice[m * n + j] == full[m * rows + r0 + j]);
  }
}

TEST_CASE("gemm scratch is reserved once: repeated calls do not grow it") {
  Problem p(33, 64, 700);
  std::vector<float> y(p.M * p.ldy);
  const WeightView w = f16_view(p.w, p.N, p.K, p.ldw);
  gemm1(p.M, w, p.x.data(), p.ldx, y.data(), p.ldy, nullptr, false, nullptr);
  const std::size_t after_first = default_pool().scratch_bytes();
  CHECK(after_first >= gemm_scratch_bytes(gemm_kernel_native(), p.M, p.K, 1));
  for (int i = 0; i < 3; ++i) {
    gemm1(p.M, w, p.x.data(), p.ldx, y.data(), p.ldy, nullptr, false, nullptr);
  }
  CHECK(default_pool().scratch_bytes() == after_first);
}

TEST_CASE("S-stream gemm: every stream equals gemm_ref with its own key and scale; F16 and F32") {
  for (const GemmKernel* kernel : kernels()) {
    for (int S : {1, 2, 3, 4, 8}) {
      for (std::int64_t M : {1, 2, 3, 16, 130}) {
        for (int variant = 0; variant < 3; ++variant) {
          const bool f32 = variant == 1, frozen = variant == 2;  // frozen: every scale 0
          const std::int64_t N = 29, K = 301;
          Problem p(M, N, K, 2, static_cast<std::uint32_t>(S * 100 + M));
          std::vector<float> wf(p.w.size());
          for (std::size_t i = 0; i < wf.size(); ++i) wf[i] = f16_to_f32_scalar(p.w[i]) * 0.75f;
          const WeightView w = f32 ? WeightView{WeightFormat::kF32, wf.data(), nullptr, N, K, p.ldw}
                                   : f16_view(p.w, N, K, p.ldw);
          // Keys pair up (s, s+1 share one), scales ±, stream 2 frozen (scale 0).
          WeightPerturbation z;
          z.streams = S;
          z.index_base = 5;
          std::vector<std::vector<float>> xs, ys, bs;
          std::vector<GemmStream> streams;
          for (int s = 0; s < S; ++s) {
            z.key[s] = z_key(9, static_cast<std::uint64_t>(s / 2));
            z.scale[s] = s == 2 || frozen ? 0.0f : (s % 2 ? -1e-2f : 1e-2f);
            xs.push_back(test::random_floats(p.x.size(), 50 + s));
            ys.push_back(p.y0);
            bs.push_back(test::random_floats(N, 70 + s));
          }
          for (int s = 0; s < S; ++s) streams.push_back({xs[s].data(), ys[s].data(), bs[s].data()});
          gemm(M, w, S, streams.data(), p.ldx, p.ldy, {true, kernel}, &z);
          for (int s = 0; s < S; ++s) {
            std::vector<float> want = p.y0;
            gemm_ref(M, w, {xs[s].data(), want.data(), bs[s].data()}, p.ldx, p.ldy, true, z.key[s],
                     z.scale[s], z.index_base);
            INFO(kernel->blocking.isa << " S=" << S << " M=" << M << " variant=" << variant
                                      << " s=" << s);
            REQUIRE(test::max_rel_error(ys[s].data(), want.data(), want.size()) <= tolerance(K));
          }
        }
      }
    }
  }
}

TEST_CASE("S-stream gemm is bit-identical for 1, 2 and 3 threads (M = 1, 16, 512; S = 3)") {
  for (std::int64_t M : {1, 16, 512}) {
    Problem p(M, 150, 1100);
    const WeightView w = f16_view(p.w, p.N, p.K, p.ldw);
    WeightPerturbation z;
    z.streams = 3;
    for (int s = 0; s < 3; ++s) {
      z.key[s] = z_key(4, static_cast<std::uint64_t>(s));
      z.scale[s] = 1e-3f * static_cast<float>(s + 1);
    }
    std::vector<float> first;
    for (int threads = 1; threads <= 3; ++threads) {
      set_num_threads(threads);
      std::vector<float> y(3 * p.y0.size());
      GemmStream streams[3];
      for (int s = 0; s < 3; ++s) {
        streams[s] = {p.x.data(), y.data() + s * p.y0.size(), p.bias.data()};
      }
      gemm(M, w, 3, streams, p.ldx, p.ldy, {}, &z);
      if (threads == 1) {
        first = y;
      } else {
        INFO("M=" << M << " threads=" << threads);
        REQUIRE(std::memcmp(y.data(), first.data(), y.size() * 4) == 0);
      }
    }
  }
  set_num_threads(0);
}

TEST_CASE("a stream's bits do not depend on the other streams of its call (S = 8 against S = 1)") {
  // What lets the Session run any S and MPI split streams over ranks: the path a call takes and
  // every sum's order depend on M and the format, never on the streams beside it.
  for (std::int64_t M : {1, 2, 5, 16, 40}) {
    Problem p(M, 37, 530);
    const WeightView w = f16_view(p.w, p.N, p.K, p.ldw);
    WeightPerturbation z;
    z.streams = 8;
    z.index_base = 3;
    std::vector<std::vector<float>> xs, ys;
    std::vector<GemmStream> streams;
    for (int s = 0; s < 8; ++s) {
      z.key[s] = z_key(11, static_cast<std::uint64_t>(s / 3));  // keys shared by 3, 3 and 2
      z.scale[s] = s % 4 == 1 ? 0.0f : 1e-3f * static_cast<float>(s % 2 ? -s : s);
      xs.push_back(test::random_floats(p.x.size(), 90 + s));
      ys.push_back(p.y0);
    }
    for (int s = 0; s < 8; ++s) streams.push_back({xs[s].data(), ys[s].data(), p.bias.data()});
    gemm(M, w, 8, streams.data(), p.ldx, p.ldy, {true}, &z);
    for (int s = 0; s < 8; ++s) {
      std::vector<float> alone = p.y0;
      WeightPerturbation one;
      one.streams = 1;
      one.key[0] = z.key[s];
      one.scale[0] = z.scale[s];
      one.index_base = z.index_base;
      const GemmStream st{xs[s].data(), alone.data(), p.bias.data()};
      gemm(M, w, 1, &st, p.ldx, p.ldy, {true}, &one);
      INFO("M=" << M << " s=" << s);
      REQUIRE(std::memcmp(alone.data(), ys[s].data(), alone.size() * 4) == 0);
    }
  }
}
