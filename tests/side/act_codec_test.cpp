#include "side/act_codec.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "io/error.h"
#include "test_util.h"

namespace pocket {

TEST_CASE("side act codec: sizes") {
  CHECK(act_vector_bytes(768, 8) == 772);
  CHECK(act_vector_bytes(768, 4) == 388);
  CHECK(act_vector_bytes(5, 4) == 7);
  CHECK_THROWS_AS(act_vector_bytes(8, 3), Error);
}

TEST_CASE("side act codec: error within half a step, for 8 and 4 bits and odd widths") {
  for (int bits : {8, 4}) {
    for (std::int64_t d : {1, 7, 64, 129}) {
      std::vector<float> x = test::random_floats(static_cast<std::size_t>(d), 11 + d, -3.0f, 5.0f);
      std::vector<std::uint8_t> enc(act_vector_bytes(d, bits));
      std::vector<float> y(static_cast<std::size_t>(d));
      quantize_vector(x.data(), d, bits, enc.data());
      dequantize_vector(enc.data(), d, bits, y.data());
      float absmax = 0.0f;
      for (float v : x) absmax = std::max(absmax, std::fabs(v));
      const float step = absmax / (bits == 8 ? 127.0f : 7.0f);
      for (std::int64_t i = 0; i < d; ++i) CHECK(std::fabs(x[i] - y[i]) <= 0.5f * step * 1.0001f);
      // The largest element is exact up to rounding of the scale: it maps to ±qmax.
      // Decoding is idempotent: encode(decode(e)) == e.
      std::vector<std::uint8_t> again(enc.size());
      quantize_vector(y.data(), d, bits, again.data());
      CHECK(again == enc);
    }
  }
}

TEST_CASE("side act codec: int4 layout and sign extension") {
  // scale 1: values are their own codes.
  const float x[5] = {7.0f, -7.0f, 3.0f, -1.0f, 2.0f};
  std::uint8_t enc[7];
  quantize_vector(x, 5, 4, enc);
  float scale;
  std::memcpy(&scale, enc, 4);
  CHECK(scale == 1.0f);
  CHECK(enc[4] == ((7 & 0xF) | ((-7 & 0xF) << 4)));
  CHECK(enc[5] == ((3 & 0xF) | ((-1 & 0xF) << 4)));
  CHECK(enc[6] == 2);  // odd d: high nibble 0
  float y[5];
  dequantize_vector(enc, 5, 4, y);
  for (int i = 0; i < 5; ++i) CHECK(y[i] == x[i]);
}

TEST_CASE("side act codec: zero vector, non-finite input and corrupt scale") {
  std::vector<float> zero(9, 0.0f), y(9, 1.0f);
  std::vector<std::uint8_t> enc(act_vector_bytes(9, 8));
  quantize_vector(zero.data(), 9, 8, enc.data());
  dequantize_vector(enc.data(), 9, 8, y.data());
  for (float v : y) CHECK(v == 0.0f);
  zero[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(quantize_vector(zero.data(), 9, 8, enc.data()), Error);
  const float bad = std::numeric_limits<float>::infinity();
  std::memcpy(enc.data(), &bad, 4);
  CHECK_THROWS_AS(dequantize_vector(enc.data(), 9, 8, y.data()), Error);
}

}  // namespace pocket
