#include "side/act_codec.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <limits>
#include <vector>

#include "io/error.h"
#include "side/frame.h"
#include "side/messages.h"
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

// Found by tests/fuzz/side_protocol_fuzz.cpp: a finite scale (6.4e37) whose product with a code
// overflows to inf was accepted, so a hostile device could make the server train on infinities.
TEST_CASE("side act codec: a scale or code the encoder never writes is refused") {
  std::uint8_t enc[4 + 3] = {};
  float y[5];
  const float huge = std::numeric_limits<float>::max() / 7.0f * 1.001f;  // 7 · scale overflows
  std::memcpy(enc, &huge, 4);
  CHECK_THROWS_AS(dequantize_vector(enc, 5, 4, y), Error);
  const float top = std::numeric_limits<float>::max() / 8.0f;  // 7 · scale is finite
  std::memcpy(enc, &top, 4);
  enc[4] = 0x77;  // codes 7, 7
  dequantize_vector(enc, 5, 4, y);
  CHECK(y[0] == 7.0f * top);
  CHECK(std::isfinite(y[1]));
  enc[5] = 0x08;  // code −8: outside [−7, 7]
  CHECK_THROWS_AS(dequantize_vector(enc, 5, 4, y), Error);
  enc[5] = 0;
  enc[6] = 0x10;  // element 5 of 5 does not exist: its nibble must be 0
  CHECK_THROWS_AS(dequantize_vector(enc, 5, 4, y), Error);

  std::uint8_t enc8[4 + 2] = {};
  const float one = 1.0f;
  std::memcpy(enc8, &one, 4);
  enc8[4] = 0x81;  // −127, the encoder's least code
  dequantize_vector(enc8, 2, 8, y);
  CHECK(y[0] == -127.0f);
  enc8[5] = 0x80;  // −128
  CHECK_THROWS_AS(dequantize_vector(enc8, 2, 8, y), Error);
  const float big = std::numeric_limits<float>::max() / 100.0f;
  std::memcpy(enc8, &big, 4);
  enc8[5] = 0;
  CHECK_THROWS_AS(dequantize_vector(enc8, 2, 8, y), Error);
}

// The fuzzer's input itself, committed beside the target (4 bytes of job parameters, then the
// EXAMPLES frame; side_protocol_fuzz.cpp): its examples decode, its vectors are refused.
TEST_CASE("side act codec: the fuzzer's overflowing EXAMPLES frame is an error") {
  const std::string path = "tests/fuzz/regressions/side-protocol/act-scale-overflow";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path << " not found (run from the repository root)");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 4 + kFrameHeaderBytes);
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::uint32_t n_vectors = 1u + data[0];
  const std::int64_t hidden = 1 + (data[1] | (data[2] << 8));
  const int bits = (data[3] & 1) != 0 ? 4 : 8;
  const FrameHeader header = decode_header(data + 4, 1u << 20);
  REQUIRE(header.type == MsgType::kExamples);
  const std::string_view payload(bytes.data() + 4 + kFrameHeaderBytes, header.length);
  const std::size_t vb = act_vector_bytes(hidden, bits);
  const msg::Examples m = msg::decode_examples(payload, n_vectors, vb);
  bool refused = false;
  std::vector<float> x(static_cast<std::size_t>(hidden));
  for (const msg::Example& e : m.examples) {
    for (std::size_t at = 0; at < e.vectors.size(); at += vb) {
      try {
        dequantize_vector(reinterpret_cast<const std::uint8_t*>(e.vectors.data() + at), hidden,
                          bits, x.data());
        for (float v : x) CHECK(std::isfinite(v));
      } catch (const Error&) {
        refused = true;
      }
    }
  }
  CHECK(refused);
}

}  // namespace pocket
