#include "side/act_codec.h"

#include <cmath>
#include <cstring>

#include "io/error.h"

namespace pocket {

namespace {

int max_code(int bits) {
  if (bits == 8) return 127;
  if (bits == 4) return 7;
  throw Error("--act-bits", "must be 8 or 4, not " + std::to_string(bits));
}

}  // namespace

std::size_t act_vector_bytes(std::int64_t d, int bits) {
  max_code(bits);
  return 4 + static_cast<std::size_t>(bits == 8 ? d : (d + 1) / 2);
}

void quantize_vector(const float* x, std::int64_t d, int bits, std::uint8_t* out) {
  const int qmax = max_code(bits);
  float absmax = 0.0f;
  for (std::int64_t i = 0; i < d; ++i) {
    if (!std::isfinite(x[i])) throw Error("side", "hidden state has a non-finite value");
    absmax = std::max(absmax, std::fabs(x[i]));
  }
  const float scale = absmax / static_cast<float>(qmax);
  std::memcpy(out, &scale, 4);  // little-endian hosts only (x86-64, aarch64)
  std::uint8_t* codes = out + 4;
  const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
  auto code = [&](std::int64_t i) {
    // nearbyint rounds half to even in the default rounding mode; the clamp only catches the
    // one-ulp overshoot of x·(1/scale) at ±absmax.
    const float q = std::nearbyint(x[i] * inv);
    return static_cast<int>(std::fmax(-qmax, std::fmin(static_cast<float>(qmax), q)));
  };
  if (bits == 8) {
    for (std::int64_t i = 0; i < d; ++i) codes[i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(code(i)));
    return;
  }
  for (std::int64_t j = 0; j < (d + 1) / 2; ++j) {
    const int lo = code(2 * j);
    const int hi = 2 * j + 1 < d ? code(2 * j + 1) : 0;
    codes[j] = static_cast<std::uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
  }
}

void check_encoded_vector(const std::uint8_t* in, std::int64_t d, int bits) {
  const int qmax = max_code(bits);
  float scale;
  std::memcpy(&scale, in, 4);
  // x̂_i = q_i · scale with |q_i| <= qmax is finite for every code iff qmax · scale is (float
  // products round monotonically): a finite scale near FLT_MAX would still decode to ±inf.
  if (!std::isfinite(scale) || scale < 0.0f || !std::isfinite(scale * static_cast<float>(qmax))) {
    throw Error("side",
                "activation scale is not a finite non-negative number whose codes stay finite");
  }
  const std::uint8_t* codes = in + 4;
  bool outside = false;  // a code the encoder never writes: −128 (int8), −8 (int4)
  if (bits == 8) {
    for (std::int64_t i = 0; i < d; ++i) outside |= codes[i] == 0x80;
  } else {
    for (std::int64_t j = 0; j < d / 2; ++j) {
      outside |= (codes[j] & 0xF) == 8 || (codes[j] >> 4) == 8;
    }
    // For odd d the last byte holds one element; its unused high nibble is 0.
    if ((d & 1) != 0) outside |= (codes[d / 2] & 0xF) == 8 || (codes[d / 2] >> 4) != 0;
  }
  if (outside) throw Error("side", "activation code outside the encoder's range (corrupt data)");
}

void dequantize_vector(const std::uint8_t* in, std::int64_t d, int bits, float* x) {
  check_encoded_vector(in, d, bits);
  float scale;
  std::memcpy(&scale, in, 4);
  const std::uint8_t* codes = in + 4;
  if (bits == 8) {
    for (std::int64_t i = 0; i < d; ++i) x[i] = static_cast<float>(static_cast<std::int8_t>(codes[i])) * scale;
    return;
  }
  // Sign-extend a nibble: (n ^ 8) − 8 maps 0..7 to 0..7 and 8..15 to −8..−1.
  for (std::int64_t i = 0; i < d; ++i) {
    const int nibble = (codes[i / 2] >> ((i & 1) * 4)) & 0xF;
    x[i] = static_cast<float>((nibble ^ 8) - 8) * scale;
  }
}

}  // namespace pocket
