#include "kernels/rope.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

TEST_CASE("RopeTable holds cos/sin of p * theta^(-2i/d) (fp32 angles as HF computes them)") {
  for (float theta : {10000.0f, 500000.0f}) {
    const int d = 64, max_pos = 4096;
    const RopeTable table(d, max_pos, theta);
    REQUIRE(table.cos.size() == static_cast<std::size_t>(max_pos * d / 2));
    for (int p : {0, 1, 7, 100, 4095}) {
      for (int i = 0; i < d / 2; ++i) {
        const double angle = p * std::pow(static_cast<double>(theta), -2.0 * i / d);
        // fp32 rounding of inv_freq and of p * inv_freq: a few ulps of the angle.
        const double tol = 1e-6 + 4.0 * angle * 6e-8;
        INFO("theta " << theta << " p " << p << " i " << i);
        REQUIRE(std::fabs(table.cos[p * d / 2 + i] - std::cos(angle)) <= tol);
        REQUIRE(std::fabs(table.sin[p * d / 2 + i] - std::sin(angle)) <= tol);
      }
    }
    CHECK(table.cos[0] == 1.0f);
    CHECK(table.sin[0] == 0.0f);
  }
}

TEST_CASE("rope_ref rotates pairs (i, i + d/2) as complex numbers; rope (" POCKET_SIMD_NAME
          ") is bit-identical") {
  const int max_pos = 300;
  for (int d : {2, 8, 14, 32, 64, 66, 128, 130}) {
    const RopeTable table(d, max_pos, 10000.0f);
    for (int T : {1, 5, 70}) {
      const int n_heads = 3;
      const std::int64_t stride = n_heads * d + 5;  // padded rows, as inside a fused buffer
      const auto x = test::random_floats(T * stride, d + T);
      std::vector<std::int32_t> pos(T);
      for (int t = 0; t < T; ++t) pos[t] = (t * 37 + 11) % max_pos;
      std::vector<float> ref = x, fast = x;
      rope_ref(ref.data(), T, n_heads, stride, pos.data(), table);
      rope(fast.data(), T, n_heads, stride, pos.data(), table);
      INFO("d = " << d << ", T = " << T);
      REQUIRE(ref == fast);
      const int half = d / 2;
      for (int t = 0; t < T; ++t) {
        for (int h = 0; h < n_heads; ++h) {
          const std::int64_t o = t * stride + h * d;
          for (int i = 0; i < half; ++i) {
            // (x1 + i x2) * e^{i a}, in double from the same table entries
            const double c = table.cos[pos[t] * half + i], s = table.sin[pos[t] * half + i];
            const double x1 = x[o + i], x2 = x[o + i + half];
            REQUIRE(std::fabs(ref[o + i] - (x1 * c - x2 * s)) < 1e-6);
            REQUIRE(std::fabs(ref[o + i + half] - (x2 * c + x1 * s)) < 1e-6);
          }
        }
        for (std::int64_t j = n_heads * d; j < stride; ++j) {
          REQUIRE(ref[t * stride + j] == x[t * stride + j]);  // padding untouched
        }
      }
    }
  }
}

TEST_CASE("rope: the score q·k depends only on the position difference; norms are kept") {
  const int d = 64;
  const RopeTable table(d, 512, 10000.0f);
  const auto q0 = test::random_floats(d, 1), k0 = test::random_floats(d, 2);
  auto score_at = [&](std::int32_t pq, std::int32_t pk) {
    std::vector<float> q = q0, k = k0;
    rope(q.data(), 1, 1, d, &pq, table);
    rope(k.data(), 1, 1, d, &pk, table);
    double dot = 0.0;
    for (int i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * k[i];
    return dot;
  };
  CHECK(score_at(10, 3) == doctest::Approx(score_at(107, 100)).epsilon(1e-5));
  CHECK(score_at(5, 5) == doctest::Approx(score_at(0, 0)).epsilon(1e-5));
  CHECK(score_at(10, 3) != doctest::Approx(score_at(10, 4)).epsilon(1e-5));

  std::vector<float> q = q0;
  const std::int32_t p = 300;
  rope(q.data(), 1, 1, d, &p, table);
  double n0 = 0.0, n1 = 0.0;
  for (int i = 0; i < d; ++i) n0 += q0[i] * q0[i], n1 += q[i] * q[i];
  CHECK(n1 == doctest::Approx(n0).epsilon(1e-5));
}

TEST_CASE("rope over many tokens (threaded) equals token by token") {
  const int d = 128, n_heads = 8, T = 200;
  const RopeTable table(d, 1024, 1e6f);
  const auto x = test::random_floats(T * n_heads * d, 4);
  std::vector<std::int32_t> pos(T);
  for (int t = 0; t < T; ++t) pos[t] = 800 + t;
  std::vector<float> all = x, one_by_one = x;
  rope(all.data(), T, n_heads, n_heads * d, pos.data(), table);
  for (int t = 0; t < T; ++t) {
    rope(one_by_one.data() + t * n_heads * d, 1, n_heads, n_heads * d, &pos[t], table);
  }
  CHECK(all == one_by_one);
}

TEST_CASE("interleaved RoPE of ggml-permuted heads is HF's rotate-half RoPE, permuted the same way") {
  // llama.cpp's converter moves HF dimension i of a head to 2i and i + d/2 to 2i + 1. Rotating
  // the permuted vector interleaved must give exactly (bit for bit: the same products) the
  // permutation of the HF rotation, with either path.
  for (int d : {2, 8, 64, 130}) {
    const RopeTable half(d, 64, 10000.0f);
    const RopeTable inter(d, 64, 10000.0f, RopeLayout::kInterleaved);
    const int n_heads = 3, T = 5;
    const std::int64_t stride = n_heads * d + 3;
    const auto x = test::random_floats(T * stride, d);
    std::vector<float> perm(x);
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < n_heads; ++h) {
        for (int i = 0; i < d / 2; ++i) {
          const std::int64_t o = t * stride + h * d;
          perm[o + 2 * i] = x[o + i];
          perm[o + 2 * i + 1] = x[o + i + d / 2];
        }
      }
    }
    std::vector<std::int32_t> pos = {0, 3, 17, 63, 8};
    std::vector<float> hf = x, ref = perm, fast = perm;
    rope_ref(hf.data(), T, n_heads, stride, pos.data(), half);
    rope_ref(ref.data(), T, n_heads, stride, pos.data(), inter);
    rope(fast.data(), T, n_heads, stride, pos.data(), inter);
    INFO("d = " << d);
    REQUIRE(ref == fast);
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < n_heads; ++h) {
        for (int i = 0; i < d / 2; ++i) {
          const std::int64_t o = t * stride + h * d;
          REQUIRE(ref[o + 2 * i] == hf[o + i]);
          REQUIRE(ref[o + 2 * i + 1] == hf[o + i + d / 2]);
        }
      }
      for (std::int64_t j = n_heads * d; j < stride; ++j) REQUIRE(ref[t * stride + j] == x[t * stride + j]);
    }
  }
}

TEST_CASE("rope scaling: linear, llama3 and yarn frequencies keep their defining properties") {
  const RopeFrequencies base = rope_frequencies(16, 1e4f, {}, 256);
  RopeScaling linear;
  linear.type = RopeScalingType::kLinear;
  linear.factor = 4.0;
  const RopeFrequencies lin = rope_frequencies(16, 1e4f, linear, 256);
  for (int i = 0; i < 8; ++i) CHECK(lin.inv_freq[i] == base.inv_freq[i] / 4.0f);

  // llama3 with L0 = 32, low 1, high 4: wavelength < 8 kept, > 32 divided by 8, between blended.
  RopeScaling l3;
  l3.type = RopeScalingType::kLlama3;
  l3.factor = 8.0;
  l3.low_freq_factor = 1.0;
  l3.high_freq_factor = 4.0;
  l3.original_max_positions = 32;
  const RopeFrequencies f3 = rope_frequencies(16, 1e4f, l3, 256);
  int kept = 0, divided = 0, blended = 0;
  for (int i = 0; i < 8; ++i) {
    const double wavelen = 2.0 * 3.141592653589793 / base.inv_freq[i];
    if (wavelen < 8.0) {
      CHECK(f3.inv_freq[i] == base.inv_freq[i]);
      ++kept;
    } else if (wavelen > 32.0) {
      CHECK(f3.inv_freq[i] == base.inv_freq[i] / 8.0f);
      ++divided;
    } else {
      CHECK(f3.inv_freq[i] < base.inv_freq[i]);
      CHECK(f3.inv_freq[i] > base.inv_freq[i] / 8.0f);
      ++blended;
    }
  }
  CHECK(kept == 1);
  CHECK(blended == 1);
  CHECK(divided == 6);
  CHECK(f3.attention_factor == 1.0f);

  // yarn, factor 4, L0 = 64, d = 12: the ramp runs over dims 0..2 (floor/ceil of the correction
  // dims of 32 and 1 rotations), so dim 0 is extrapolated, dim 1 half-way, dims >= 2 divided.
  RopeScaling y;
  y.type = RopeScalingType::kYarn;
  y.factor = 4.0;
  y.original_max_positions = 64;
  const RopeFrequencies fy = rope_frequencies(12, 1e4f, y, 256);
  const RopeFrequencies b12 = rope_frequencies(12, 1e4f, {}, 256);
  CHECK(fy.inv_freq[0] == b12.inv_freq[0]);
  CHECK(fy.inv_freq[1] == doctest::Approx(0.5 * b12.inv_freq[1] + 0.5 * b12.inv_freq[1] / 4));
  for (int i = 2; i < 6; ++i) CHECK(fy.inv_freq[i] == doctest::Approx(b12.inv_freq[i] / 4));
  CHECK(fy.attention_factor == doctest::Approx(0.1 * std::log(4.0) + 1.0));
  // The table multiplies cos and sin by it: at position 0, cos = attention factor.
  const RopeTable table(12, 8, 1e4f, RopeLayout::kHalf, y);
  CHECK(table.cos[0] == fy.attention_factor);
  CHECK(table.sin[0] == 0.0f);
}
