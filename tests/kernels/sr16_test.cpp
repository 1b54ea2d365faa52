#include "kernels/sr16.h"

#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/fp16_simd.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

// The rounding rule computed from its definition in double precision, independent of the bit
// manipulation in sr16.h: lo = |x| truncated to the fp16 grid, frac = (|x| - lo) / ulp,
// away from zero iff (bits >> 8) / 2^24 < frac; finite |x| >= 65504 saturates.
fp16 sr_by_definition(float x, std::uint32_t random_bits) {
  if (!std::isfinite(x)) return f32_to_f16_scalar(x);
  const double ax = std::min(std::fabs(static_cast<double>(x)), 65504.0);
  int exp = 0;
  std::frexp(ax, &exp);  // ax in [2^(exp-1), 2^exp)
  const double ulp = ax < 0x1p-14 ? 0x1p-24 : std::ldexp(1.0, exp - 1 - 10);
  const double lo = std::floor(ax / ulp) * ulp;
  const double frac = (ax - lo) / ulp;
  const double u = static_cast<double>(random_bits >> 8) / 16777216.0;
  const double r = u < frac ? lo + ulp : lo;
  return f32_to_f16_scalar(static_cast<float>(std::signbit(x) ? -r : r));
}

// Random floats spread over every fp16 regime: log-uniform magnitude from 2^-30 (below the
// subnormals) to 2^17 (past 65504), both signs, plus some exact fp16 values.
std::vector<float> spread_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> log2_mag(-30.0f, 17.0f);
  std::uniform_int_distribution<int> coin(0, 7);
  std::vector<float> v(n);
  for (auto& x : v) {
    x = std::exp2(log2_mag(rng));
    if (coin(rng) == 0) x = f16_to_f32_scalar(f32_to_f16_scalar(x));
    if (coin(rng) & 1) x = -x;
  }
  return v;
}

std::vector<std::uint32_t> random_words(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint32_t> v(n);
  for (auto& b : v) b = rng();
  return v;
}

// out[i] = SR(x[i], bits[i]) through the SIMD lanes function with chosen bits (the bulk call
// draws its bits from the stream); the scalar function for the tail and on the scalar path.
std::vector<fp16> sr_lanes(const std::vector<float>& x, const std::vector<std::uint32_t>& bits) {
  std::vector<fp16> out(x.size());
  std::size_t i = 0;
#if !defined(POCKET_SIMD_SCALAR)
  for (; i + kFloatLanes <= x.size(); i += kFloatLanes) {
    const auto b = xsimd::batch<std::uint32_t>::load_unaligned(bits.data() + i);
    store_f16(out.data() + i, f32_to_f16_sr_lanes(vfloat::load_unaligned(x.data() + i), b));
  }
#endif
  for (; i < x.size(); ++i) out[i] = f32_to_f16_sr(x[i], bits[i]);
  return out;
}

// value of a finite fp16 as double
double f16_double(fp16 h) { return static_cast<double>(f16_to_f32_scalar(h)); }

}  // namespace

TEST_CASE("SR leaves every fp16 value unchanged, whatever the random bits") {
  std::vector<float> x(65536);
  for (int h = 0; h < 65536; ++h) x[h] = f16_to_f32_scalar(static_cast<fp16>(h));
  for (std::uint32_t probe : {0u, 0xFFu, 0xFFFFFFFFu, 0x80000000u, 0x12345678u}) {
    const std::vector<std::uint32_t> bits(x.size(), probe);
    const auto lanes = sr_lanes(x, bits);
    for (int h = 0; h < 65536; ++h) {
      const fp16 want = f32_to_f16_scalar(x[h]);  // h itself, NaNs quieted
      REQUIRE(f32_to_f16_sr(x[h], probe) == want);
      REQUIRE(lanes[h] == want);
    }
  }
}

TEST_CASE("SR matches its definition and returns one of the two neighbours") {
  const auto x = spread_floats(200000, 11);
  auto bits = random_words(x.size(), 12);
  // every 4th element gets bits right at its threshold: (bits >> 8) = frac * 2^24 rounds to lo,
  // one less rounds away from zero
  for (std::size_t i = 0; i < x.size(); i += 4) {
    const double ax = std::min(std::fabs(static_cast<double>(x[i])), 65504.0);
    const double lo = std::fabs(f16_double(sr_by_definition(x[i], 0xFFFFFFFFu)));
    const double hi = std::fabs(f16_double(sr_by_definition(x[i], 0u)));
    if (hi == lo) continue;
    const double threshold = std::ceil((ax - lo) / (hi - lo) * 16777216.0);
    bits[i] = static_cast<std::uint32_t>(threshold - (i & 4 ? 1 : 0)) << 8 | (i & 0xFF);
  }
  const auto lanes = sr_lanes(x, bits);
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i] << " bits = " << bits[i]);
    const fp16 got = f32_to_f16_sr(x[i], bits[i]);
    REQUIRE(got == sr_by_definition(x[i], bits[i]));
    REQUIRE(lanes[i] == got);
    const fp16 down = sr_by_definition(x[i], 0xFFFFFFFFu);  // u ~ 1: never away from zero
    const fp16 up = sr_by_definition(x[i], 0u);             // u = 0: away unless exact
    REQUIRE((got == down || got == up));
  }
}

TEST_CASE("SR bit boundaries: u < frac exactly") {
  // x = 1 + 0.25 ulp (ulp = 2^-10): away iff (bits >> 8) < 2^22.
  const float x = 1.0f + 0x1p-12f;
  CHECK(f32_to_f16_sr(x, (0x400000u << 8) - 1) == 0x3C01);
  CHECK(f32_to_f16_sr(x, 0x400000u << 8) == 0x3C00);
  CHECK(f32_to_f16_sr(-x, 0u) == 0xBC01);
  // subnormal: x = 2.75 * 2^-24, away iff (bits >> 8) < 0.75 * 2^24
  const float s = 2.75f * 0x1p-24f;
  CHECK(f32_to_f16_sr(s, (0xC00000u << 8) - 1) == 0x0003);
  CHECK(f32_to_f16_sr(s, 0xC00000u << 8) == 0x0002);
  // below the smallest subnormal: 0 or 2^-24
  CHECK(f32_to_f16_sr(0x1p-26f, 0u) == 0x0001);
  CHECK(f32_to_f16_sr(0x1p-26f, 0x40000000u) == 0x0000);
  CHECK(f32_to_f16_sr(-1e-30f, 0xFFFFFFFFu) == 0x8000);
  // the top of the normal range: 65488 is halfway between 65472 and 65504
  CHECK(f32_to_f16_sr(65488.0f, 0u) == 0x7BFF);
  CHECK(f32_to_f16_sr(65488.0f, 0xFFFFFFFFu) == 0x7BFE);
}

TEST_CASE("SR saturates finite values at ±65504 and keeps Inf and NaN") {
  const float big[] = {65504.0f, 65504.004f, 65519.996f, 65520.0f, 65536.0f, 1e30f, FLT_MAX};
  for (float x : big) {
    for (std::uint32_t bits : {0u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
      CHECK(f32_to_f16_sr(x, bits) == 0x7BFF);
      CHECK(f32_to_f16_sr(-x, bits) == 0xFBFF);
    }
  }
  CHECK(f32_to_f16_sr(INFINITY, 0u) == 0x7C00);
  CHECK(f32_to_f16_sr(-INFINITY, 0u) == 0xFC00);
  const float nan = f32_from_bits(0x7FA00000u);  // signalling NaN with a payload
  const fp16 h = f32_to_f16_sr(nan, 0u);
  CHECK((h & 0x7C00) == 0x7C00);
  CHECK((h & 0x3FF) != 0);
  CHECK(h == f32_to_f16_scalar(nan));
  CHECK(f32_to_f16_sr(-NAN, 0u) == f32_to_f16_scalar(-NAN));
}

TEST_CASE("SR is unbiased: the mean of many roundings is the value, within 3 sigma") {
  struct Probe {
    const char* what;
    float x;
  };
  const Probe probes[] = {
      {"normal", 1.0f + 0.3f * 0x1p-10f},
      {"normal, small frac", 0.7f + 0.01f * 0x1p-11f},
      {"negative", -3.7001953125f},  // -(3.69921875 + ulp / 2), ulp = 2^-9
      {"subnormal", 5.25f * 0x1p-24f},
      {"subnormal, negative", -300.9f * 0x1p-24f},
      {"below subnormals", 0.375f * 0x1p-24f},
      {"near 65504", 65490.0f},
      {"near -65504", -65500.0f},
  };
  constexpr std::size_t kN = 100000;
  std::vector<float> in(kN);
  std::vector<fp16> out(kN);
  const std::uint64_t key = sr_key(2024, fnv1a64("unbiased"));
  for (const Probe& probe : probes) {
    INFO(probe.what << ": x = " << probe.x);
    std::fill(in.begin(), in.end(), probe.x);
    f32_to_f16_sr(in.data(), out.data(), kN, key, 0);
    const double lo = f16_double(sr_by_definition(probe.x, 0xFFFFFFFFu));
    const double hi = f16_double(sr_by_definition(probe.x, 0u));
    REQUIRE(lo != hi);
    double sum = 0.0;
    for (fp16 h : out) {
      const double v = f16_double(h);
      REQUIRE((v == lo || v == hi));
      sum += v;
    }
    const double ulp = std::fabs(hi - lo);
    const double p = (static_cast<double>(probe.x) - lo) / (hi - lo);
    const double sigma = ulp * std::sqrt(p * (1.0 - p) / kN);
    CHECK(std::fabs(sum / kN - probe.x) < 3.0 * sigma);
  }
}

TEST_CASE("SR bulk is deterministic and depends on the flat index only") {
  const auto x = spread_floats(5000, 21);
  const std::uint64_t key = sr_key(7, fnv1a64("det"));
  std::vector<fp16> a(x.size()), b(x.size()), c(x.size());
  f32_to_f16_sr(x.data(), a.data(), x.size(), key, 100);
  f32_to_f16_sr(x.data(), b.data(), x.size(), key, 100);
  CHECK(a == b);
  // the same elements converted in two pieces, the second starting at index 100 + 1001
  f32_to_f16_sr(x.data(), c.data(), 1001, key, 100);
  f32_to_f16_sr(x.data() + 1001, c.data() + 1001, x.size() - 1001, key, 100 + 1001);
  CHECK(a == c);
  // another key or index base gives other roundings
  f32_to_f16_sr(x.data(), b.data(), x.size(), sr_key(8, fnv1a64("det")), 100);
  CHECK(a != b);
  f32_to_f16_sr(x.data(), b.data(), x.size(), key, 101);
  CHECK(a != b);
}

TEST_CASE("SR bulk " POCKET_SIMD_NAME " is bit-identical to the scalar reference") {
  std::vector<int> sizes = test::edge_sizes();
  sizes.push_back(255);
  sizes.push_back(256);
  sizes.push_back(257);
  sizes.push_back(4099);
  const std::uint64_t key = sr_key(3, fnv1a64("simd"));
  for (std::uint64_t index_base : {0ull, 1ull, 37ull, 64ull * 5 + 13, (1ull << 40) + 3}) {
    for (int n : sizes) {
      INFO("n = " << n << " index_base = " << index_base);
      auto x = spread_floats(n, 100 + n);
      if (n > 4) {
        x[1] = INFINITY;
        x[2] = -NAN;
        x[3] = 1e-40f;  // fp32 subnormal
      }
      std::vector<fp16> ref(n), fast(n);
      f32_to_f16_sr_ref(x.data(), ref.data(), n, key, index_base);
      f32_to_f16_sr(x.data(), fast.data(), n, key, index_base);
      for (int i = 0; i < n; ++i) {
        REQUIRE(ref[i] == f32_to_f16_sr(x[i], sr_bits(key, index_base + i)));
        REQUIRE(fast[i] == ref[i]);
      }
    }
  }
}

TEST_CASE("fill_sr_bits gives sr_bits for any start and length") {
  const std::uint64_t key = sr_key(1, 2);
  std::uint32_t buf[70];
  for (std::uint64_t first : {0ull, 1ull, 2ull, 63ull}) {
    for (std::size_t n : {0u, 1u, 2u, 3u, 64u, 70u}) {
      fill_sr_bits(key, first, n, buf);
      for (std::size_t k = 0; k < n; ++k) REQUIRE(buf[k] == sr_bits(key, first + k));
    }
  }
}
