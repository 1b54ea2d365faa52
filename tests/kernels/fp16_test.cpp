#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

namespace {
std::vector<fp16> all_f16() {
  std::vector<fp16> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<fp16>(i);
  return all;
}

// Exact value of an fp16 bit pattern computed from the IEEE definition, independent of the
// bit-shuffling in fp16.h.
double f16_value(fp16 h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}
}  // namespace

TEST_CASE("fp16 -> fp32 is exact for all 65536 values, scalar and " POCKET_SIMD_NAME) {
  const auto all = all_f16();
  std::vector<float> ref(all.size()), fast(all.size());
  f16_to_f32_ref(all.data(), ref.data(), all.size());
  f16_to_f32(all.data(), fast.data(), all.size());
  for (int i = 0; i < 65536; ++i) {
    const double want = f16_value(all[i]);
    if (std::isnan(want)) {
      REQUIRE(std::isnan(ref[i]));
      // payload kept in the top of the fp32 mantissa, quiet bit set (as F16C and NEON do)
      REQUIRE(((f32_bits(ref[i]) >> 13) & 0x3FF) == ((all[i] & 0x3FF) | 0x200));
    } else {
      REQUIRE(static_cast<double>(ref[i]) == want);
      REQUIRE(std::signbit(ref[i]) == static_cast<bool>(all[i] >> 15));
    }
    REQUIRE(f32_bits(fast[i]) == f32_bits(ref[i]));
  }
}

TEST_CASE("fp32 -> fp16 round-trips all 65536 values (NaNs stay NaN, quieted)") {
  const auto all = all_f16();
  std::vector<float> wide(all.size());
  f16_to_f32_ref(all.data(), wide.data(), all.size());
  std::vector<fp16> ref(all.size()), fast(all.size());
  f32_to_f16_ref(wide.data(), ref.data(), wide.size());
  f32_to_f16(wide.data(), fast.data(), wide.size());
  for (int i = 0; i < 65536; ++i) {
    const bool is_nan = (all[i] & 0x7C00) == 0x7C00 && (all[i] & 0x3FF);
    if (is_nan) {
      REQUIRE(ref[i] == (all[i] | 0x200));
    } else {
      REQUIRE(ref[i] == all[i]);
    }
    REQUIRE(fast[i] == ref[i]);
  }
}

TEST_CASE("fp32 -> fp16 rounds to nearest, ties to even, at every pair of neighbours") {
  // For every finite non-negative fp16 h and its successor, probe the midpoint (a tie), just
  // below and just above it; compare scalar against the exact rule and SIMD against scalar.
  std::vector<float> probes;
  std::vector<fp16> want;
  for (int h = 0; h < 0x7C00; ++h) {
    const double lo = f16_value(static_cast<fp16>(h));
    const double hi = (h + 1 == 0x7C00) ? 65536.0 : f16_value(static_cast<fp16>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact in fp32
    const fp16 even = (h & 1) ? static_cast<fp16>(h + 1) : static_cast<fp16>(h);
    for (int sign = 0; sign < 2; ++sign) {
      const float s = sign ? -1.0f : 1.0f;
      const fp16 sbit = sign ? 0x8000 : 0;
      probes.push_back(s * mid);
      want.push_back(static_cast<fp16>(even | sbit));
      probes.push_back(s * std::nextafter(mid, 0.0f));
      want.push_back(static_cast<fp16>(h | sbit));
      probes.push_back(s * std::nextafter(mid, INFINITY));
      want.push_back(static_cast<fp16>((h + 1) | sbit));
    }
  }
  std::vector<fp16> ref(probes.size()), fast(probes.size());
  f32_to_f16_ref(probes.data(), ref.data(), probes.size());
  f32_to_f16(probes.data(), fast.data(), probes.size());
  for (std::size_t i = 0; i < probes.size(); ++i) {
    INFO("probe " << probes[i]);
    REQUIRE(ref[i] == want[i]);
    REQUIRE(fast[i] == ref[i]);
  }
}

TEST_CASE("fp32 -> fp16 on random, huge and tiny values agrees across paths") {
  auto v = test::random_floats(100003, 7, -70000.0f, 70000.0f);
  const auto tiny = test::random_floats(50000, 8, -1e-4f, 1e-4f);
  v.insert(v.end(), tiny.begin(), tiny.end());
  v.push_back(INFINITY);
  v.push_back(-INFINITY);
  v.push_back(1e30f);
  v.push_back(-1e-30f);
  std::vector<fp16> ref(v.size()), fast(v.size());
  f32_to_f16_ref(v.data(), ref.data(), v.size());
  f32_to_f16(v.data(), fast.data(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(fast[i] == ref[i]);
  CHECK(ref[v.size() - 2] == 0x7C00);  // 1e30 overflows to +Inf
  CHECK(ref[v.size() - 1] == 0x8000);  // -1e-30 underflows to -0
}
