#include "kernels/gemm_quant.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"
#include "test_util.h"

using namespace pocket;

namespace {

constexpr WeightFormat kFormats[] = {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K,
                                     WeightFormat::kQ6_K};

// Random blocks: every byte of the integers random (so every q value occurs, Q8_0's −128 too),
// scales random fp16 of the size real files have.
std::vector<std::uint8_t> random_blocks(WeightFormat f, std::int64_t rows, std::int64_t stride,
                                        std::uint32_t seed) {
  const std::int64_t row_bytes = weight_bytes(f, stride);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(rows * row_bytes));
  std::mt19937 rng(seed);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.0005f, 0.004f);
  auto put = [&](std::uint8_t* at, float v) {
    const fp16 h = f32_to_f16_scalar(v);
    std::memcpy(at, &h, 2);
  };
  const std::int64_t bb = weight_block_bytes(f);
  for (std::int64_t i = 0; i < rows * stride / weight_block_size(f); ++i) {
    std::uint8_t* blk = bytes.data() + i * bb;
    switch (f) {
      case WeightFormat::kQ8_0:
      case WeightFormat::kQ4_0:
        put(blk, scale(rng));
        break;
      case WeightFormat::kQ4_K:
        put(blk, scale(rng));
        put(blk + 2, scale(rng));
        break;
      case WeightFormat::kQ6_K:
        put(blk + offsetof(BlockQ6_K, d), scale(rng));
        break;
      default:
        break;
    }
  }
  return bytes;
}

// W's values in double, decoded here from ggml's formulas (independently of the kernels' decoder).
std::vector<double> dequantize(WeightFormat f, const std::vector<std::uint8_t>& bytes,
                               std::int64_t rows, std::int64_t K, std::int64_t stride) {
  std::vector<double> out(static_cast<std::size_t>(rows * K));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint8_t* row = bytes.data() + r * weight_bytes(f, stride);
    double* y = out.data() + r * K;
    for (std::int64_t b = 0; b < K / weight_block_size(f); ++b) {
      double* yb = y + b * weight_block_size(f);
      if (f == WeightFormat::kQ8_0) {
        const auto* x = reinterpret_cast<const BlockQ8_0*>(row) + b;
        for (int i = 0; i < 32; ++i) yb[i] = f16_to_f32_scalar(x->d) * x->qs[i];
      } else if (f == WeightFormat::kQ4_0) {
        const auto* x = reinterpret_cast<const BlockQ4_0*>(row) + b;
        for (int i = 0; i < 16; ++i) {
          yb[i] = f16_to_f32_scalar(x->d) * ((x->qs[i] & 0xF) - 8);
          yb[i + 16] = f16_to_f32_scalar(x->d) * ((x->qs[i] >> 4) - 8);
        }
      } else if (f == WeightFormat::kQ4_K) {
        const auto* x = reinterpret_cast<const BlockQ4_K*>(row) + b;
        const std::uint8_t* s = x->scales;
        for (int j = 0; j < 8; ++j) {
          int sc, m;
          if (j < 4) {
            sc = s[j] & 63, m = s[j + 4] & 63;
          } else {
            sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
            m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
          }
          for (int l = 0; l < 32; ++l) {
            const int q = (x->qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
            yb[32 * j + l] =
                double(f16_to_f32_scalar(x->d)) * sc * q - double(f16_to_f32_scalar(x->dmin)) * m;
          }
        }
      } else {
        const auto* x = reinterpret_cast<const BlockQ6_K*>(row) + b;
        const double d = f16_to_f32_scalar(x->d);
        for (int n = 0; n < 2; ++n) {
          const std::uint8_t* ql = x->ql + 64 * n;
          const std::uint8_t* qh = x->qh + 32 * n;
          const std::int8_t* sc = x->scales + 8 * n;
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            yb[128 * n + l] = d * sc[is] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
            yb[128 * n + l + 32] =
                d * sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            yb[128 * n + l + 64] =
                d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            yb[128 * n + l + 96] =
                d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
          }
        }
      }
    }
  }
  return out;
}

struct Problem {
  WeightFormat f;
  std::int64_t M, N, K, ldx, stride, ldy;
  std::vector<std::uint8_t> w;
  std::vector<float> x, bias, y0;

  Problem(WeightFormat format, std::int64_t m, std::int64_t n, std::int64_t k, std::uint32_t seed,
          bool pad = false)
      : f(format),
        M(m),
        N(n),
        K(k),
        ldx(k + (pad ? 3 : 0)),
        stride(k + (pad ? weight_block_size(format) : 0)),
        ldy(n + (pad ? 5 : 0)) {
    w = random_blocks(f, N, stride, seed);
    x = test::random_floats(static_cast<std::size_t>(M * ldx), seed + 1);
    bias = test::random_floats(static_cast<std::size_t>(N), seed + 2);
    y0 = test::random_floats(static_cast<std::size_t>(M * ldy), seed + 3);
  }
  WeightView view() const { return {f, w.data(), nullptr, N, K, stride}; }
};

std::int64_t k_unit(WeightFormat f) { return weight_block_size(f); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("quantize_activations: d = amax/127, q = round(x/d), sums per 16") {
  std::vector<float> x = test::random_floats(64, 7);
  x[5] = -3.0f;  // amax of block 0
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;
  std::int8_t q[64];
  float d[2];
  std::int32_t s[4];
  quantize_activations(x.data(), 64, q, d, s);
  CHECK(d[0] == 3.0f / 127.0f);
  CHECK(q[5] == -127);
  CHECK(d[1] == 0.0f);
  std::int32_t s0 = 0;
  for (int i = 0; i < 16; ++i) {
    CHECK(std::abs(x[i] - d[0] * q[i]) <= 0.5f * d[0] * 1.0001f);
    s0 += q[i];
  }
  CHECK(s[0] == s0);
  CHECK(s[2] == 0);
  CHECK(s[3] == 0);
}

TEST_CASE("quantize_activations (and each variant's own) rounds half away from zero, halves included") {
  // Blocks whose amax is 127 make d = 1 and x/d = x·1: the values land exactly on k + 0.5.
  std::vector<float> x(32 * 64);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-127.0f, 127.0f);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float v = u(rng);
    x[i] = i % 32 == 0 ? 127.0f : (i % 3 == 0 ? std::floor(v) + 0.5f : v);
  }
  std::vector<std::int8_t> q(x.size());
  std::vector<float> d(x.size() / 32);
  std::vector<std::int32_t> s(x.size() / 16);
  quantize_activations(x.data(), static_cast<std::int64_t>(x.size()), q.data(), d.data(),
                       s.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float id = 1.0f / d[i / 32];
    INFO("x=" << x[i]);
    REQUIRE(q[i] == static_cast<std::int8_t>(std::round(x[i] * id)));
  }
  // Each variant's own quantizer gives the same bytes, scales and sums.
  for (const GemmQuantKernel* kernel : gemm_quant_kernels()) {
    if (kernel->quantize == nullptr) continue;
    std::vector<std::int8_t> q2(q.size());
    std::vector<float> d2(d.size());
    std::vector<std::int32_t> s2(s.size());
    kernel->quantize(x.data(), static_cast<std::int64_t>(x.size()), q2.data(), d2.data(),
                     s2.data());
    INFO(kernel->name);
    REQUIRE(q2 == q);
    REQUIRE(std::memcmp(d2.data(), d.data(), d.size() * sizeof(float)) == 0);
    REQUIRE(s2 == s);
  }
}

TEST_CASE("gemm_quant_ref is within the Q8 activation rounding of exact math over dequantized W") {
  // Each x is off by at most dx_b/2 = amax_b/254 after quantization, so an output is off by at
  // most Σ_b amax_b/254 · Σ_{k∈b} |w_k| (the integer dots are exact), plus fp32 rounding of the
  // per-block terms and their sum: a few ulps of Σ |w·x|.
  for (WeightFormat f : kFormats) {
    for (std::int64_t K : {k_unit(f), 4 * k_unit(f)}) {
      Problem p(f, 3, 7, K, 11);
      const std::vector<double> wd = dequantize(f, p.w, p.N, K, p.stride);
      std::vector<float> y(p.y0);
      gemm_quant_ref(p.M, p.view(), {p.x.data(), y.data(), nullptr}, p.ldx, p.ldy, false);
      for (std::int64_t m = 0; m < p.M; ++m) {
        for (std::int64_t n = 0; n < p.N; ++n) {
          double exact = 0, bound = 0, magnitude = 0;
          for (std::int64_t b = 0; b < K / 32; ++b) {
            double amax = 0, wabs = 0;
            for (int l = 0; l < 32; ++l) {
              const std::int64_t k = 32 * b + l;
              amax = std::max(amax, std::fabs(double(p.x[m * p.ldx + k])));
              wabs += std::fabs(wd[n * K + k]);
              exact += wd[n * K + k] * p.x[m * p.ldx + k];
              magnitude += std::fabs(wd[n * K + k] * p.x[m * p.ldx + k]);
            }
            bound += amax / 254.0 * wabs;
          }
          bound = bound * 1.001 + 1e-6 * magnitude + 1e-30;
          INFO(weight_format_name(f) << " K=" << K << " m=" << m << " n=" << n);
          CHECK(std::fabs(y[m * p.ldy + n] - exact) <= bound);
        }
      }
    }
  }
}

namespace {

// Kernel `kernel` against gemm_quant_ref on every format, tile remainders, bias, accumulation and
// strides.
void expect_same_as_ref(const GemmQuantKernel& kernel) {
  ThreadPool pool(1);
  for (WeightFormat f : kFormats) {
    for (std::int64_t M : {1, 2, 3, 4, 5, 16, 17, 64, 130}) {
      const std::int64_t K =
          M % 2 ? 3 * k_unit(f) : (f == WeightFormat::kQ8_0 ? 32 : 2 * k_unit(f));
      const std::int64_t N = M < 20 ? 37 : 19;
      for (bool pad : {false, true}) {
        Problem p(f, M, N, K, static_cast<std::uint32_t>(M * 7 + pad), pad);
        const bool accumulate = pad;
        const float* bias = M % 2 ? p.bias.data() : nullptr;
        std::vector<float> want(p.y0), got(p.y0);
        gemm_quant_ref(M, p.view(), {p.x.data(), want.data(), bias}, p.ldx, p.ldy, accumulate);
        const GemmStream stream{p.x.data(), got.data(), bias};
        gemm_quant(pool, M, p.view(), 1, &stream, p.ldx, p.ldy, accumulate, &kernel);
        INFO(kernel.name << " " << weight_format_name(f) << " M=" << M << " K=" << K
                         << " pad=" << pad);
        REQUIRE(same_bits(got, want));
      }
    }
  }
}

}  // namespace

TEST_CASE(
    "every integer GEMM kernel equals gemm_quant_ref bit for bit (bias, accumulate, strides)") {
  for (const GemmQuantKernel* kernel : gemm_quant_kernels()) expect_same_as_ref(*kernel);
}

#if defined(__aarch64__) && defined(__linux__)
// qemu-user (make test-arm) shows the host's /proc/cpuinfo, which has no asimddp, so
// gemm_quant_kernels() leaves the sdot variant out there; the auxiliary vector's hwcaps are the
// emulated CPU's own.
TEST_CASE("every NEON integer GEMM kernel equals gemm_quant_ref where the hwcaps report asimddp") {
  if ((getauxval(AT_HWCAP) & HWCAP_ASIMDDP) == 0) return;
  for (const GemmQuantKernel& kernel : neon::gemm_quant_variants()) expect_same_as_ref(kernel);
}
#endif

TEST_CASE("integer GEMM: 1, 2 and 3 threads give the same bits; streams are independent") {
  for (WeightFormat f : kFormats) {
    for (std::int64_t M : {1, 16, 70}) {
      Problem p(f, M, 301, 2 * k_unit(f) * (f == WeightFormat::kQ8_0 ? 8 : 1), 5);
      const std::vector<float> x2 = test::random_floats(p.x.size(), 9);
      std::vector<float> first, first2;
      for (int threads = 1; threads <= 3; ++threads) {
        ThreadPool pool(threads);
        std::vector<float> y(p.y0), y2(p.y0);
        const GemmStream s[2] = {{p.x.data(), y.data(), p.bias.data()},
                                 {x2.data(), y2.data(), nullptr}};
        gemm_quant(pool, M, p.view(), 2, s, p.ldx, p.ldy, false);
        if (threads == 1) {
          first = y;
          first2 = y2;
          std::vector<float> alone(p.y0);
          const GemmStream one{x2.data(), alone.data(), nullptr};
          gemm_quant(pool, M, p.view(), 1, &one, p.ldx, p.ldy, false);
          REQUIRE(same_bits(alone, y2));
        } else {
          INFO(weight_format_name(f) << " M=" << M << " threads=" << threads);
          REQUIRE(same_bits(y, first));
          REQUIRE(same_bits(y2, first2));
        }
      }
    }
  }
}

TEST_CASE("gemm() takes the integer path for block formats without a perturbation") {
  for (WeightFormat f : kFormats) {
    Problem p(f, 5, 33, 2 * k_unit(f), 3);
    std::vector<float> want0(p.y0), want1(p.y0), got0(p.y0), got1(p.y0);
    const std::vector<float> x2 = test::random_floats(p.x.size(), 4);
    gemm_quant_ref(p.M, p.view(), {p.x.data(), want0.data(), p.bias.data()}, p.ldx, p.ldy, true);
    gemm_quant_ref(p.M, p.view(), {x2.data(), want1.data(), nullptr}, p.ldx, p.ldy, true);
    const GemmStream s[2] = {{p.x.data(), got0.data(), p.bias.data()},
                             {x2.data(), got1.data(), nullptr}};
    WeightPerturbation zero;  // two streams, both scales 0: W itself
    zero.streams = 2;
    GemmOptions options;
    options.accumulate = true;
    gemm(p.M, p.view(), 2, s, p.ldx, p.ldy, options, &zero);
    INFO(weight_format_name(f));
    CHECK(same_bits(got0, want0));
    CHECK(same_bits(got1, want1));
  }
}

TEST_CASE("gemm_scratch_bytes covers the integer path: a call reserves nothing more") {
  ThreadPool pool(2);
  const std::int64_t M = 40, K = 512;
  pool.reserve_scratch(gemm_scratch_bytes(gemm_kernel_native(), M, K, 2));
  const std::size_t reserved = pool.scratch_bytes();
  for (WeightFormat f : kFormats) {
    Problem p(f, M, 50, K, 8);
    std::vector<float> y(p.y0), y2(p.y0);
    const GemmStream s[2] = {{p.x.data(), y.data(), nullptr}, {p.x.data(), y2.data(), nullptr}};
    GemmOptions options;
    options.pool = &pool;
    gemm(M, p.view(), 2, s, p.ldx, p.ldy, options);
    CHECK(pool.scratch_bytes() == reserved);
  }
}
