// The activation codec of side tuning: how one hidden-state vector travels from the device to the
// server (MobiLLM ships activations at low bit width; docs/side-protocol.md).
//
// Per-vector absmax quantization, symmetric, round half to even:
//   bits = 8:  scale = max|x| / 127,  q_i = clamp(round(x_i / scale), −127, 127)   (int8)
//   bits = 4:  scale = max|x| / 7,    q_i = clamp(round(x_i / scale), −7, 7)       (int4)
//   x̂_i = q_i · scale  (float)
// Encoded vector: the f32 scale (little-endian), then the codes: int8 one per byte, or int4 two per
// byte (element 2j in the low nibble of byte j, 2j+1 in the high nibble, two's complement; an odd
// last element leaves the high nibble 0). max|x| = 0 gives scale 0 and all-zero codes.
// The worst-case error per element is scale / 2 = max|x| / 254 (int8) or max|x| / 14 (int4).
//
// Both ends dequantize with the same code, so the server's and the device's x̂ are the same bits:
// the side network is trained and run as one function of the dequantized states.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pocket {

// Bytes of one encoded vector of d elements: 4 + d (8 bits) or 4 + ceil(d/2) (4 bits).
std::size_t act_vector_bytes(std::int64_t d, int bits);

// Encodes x[0..d) into out[0 .. act_vector_bytes(d, bits)). Throws pocket::Error for bits other
// than 4 and 8, or a non-finite element (a broken forward must not be shipped as data).
void quantize_vector(const float* x, std::int64_t d, int bits, std::uint8_t* out);

// Throws pocket::Error unless in[0 .. act_vector_bytes(d, bits)) is a vector the encoder can write:
// a scale that is negative, not finite or so large that qmax · scale overflows (it would decode
// to ±inf), a code of −128 (int8) or −8 (int4), or a non-zero unused high nibble is hostile or
// corrupt data. The server checks every received vector so before it stores the example.
void check_encoded_vector(const std::uint8_t* in, std::int64_t d, int bits);

// x[0..d) = the decoded vector, after check_encoded_vector(in, d, bits).
void dequantize_vector(const std::uint8_t* in, std::int64_t d, int bits, float* x);

}  // namespace pocket
