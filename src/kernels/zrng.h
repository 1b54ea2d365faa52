// The perturbation direction z of a ZO step, and the stochastic-rounding stream beside it.
// The definition is exact (DESIGN.md, "The perturbation z") and checked bit for bit against
// ../shared/testvectors/z.json; any other implementation must reproduce it:
//
//   mix64(x)       = SplitMix64 finaliser            (all arithmetic mod 2^64)
//   key(seed, pid) = mix64(seed + GAMMA * (pid + 1)) pid = FNV-1a 64 of the tensor's name
//   word(k, j)     = mix64(k + GAMMA * (j + 1))      the j-th SplitMix64 output from state k
//   z[i]           = bit (i & 63) of word(key, i >> 6) ? +1 : -1,  i = row-major flat index
//
// Every word is a pure function of (key, j), so any tile of z is generated alone, on any thread,
// in any order: a packer regenerates exactly the bits of the tile it packs.
//
// Stochastic rounding uses a second counter stream of the same construction with its own key,
//   sr_key(seed, pid) = mix64(key(seed, pid) ^ SR_DOMAIN),  SR_DOMAIN = 0x5352313653523136 ("SR16SR16")
// and element i takes the 32-bit half (i & 1) of word(sr_key, i >> 1) (low half for even i).
#pragma once

#include <cstdint>
#include <string_view>

#include "io/hash.h"

namespace pocket {

inline constexpr std::uint64_t kSrDomain = 0x5352313653523136ull;

constexpr std::uint64_t z_key(std::uint64_t seed, std::uint64_t pid) {
  return mix64(seed + kGamma * (pid + 1));
}

constexpr std::uint64_t z_word(std::uint64_t key, std::uint64_t j) {
  return mix64(key + kGamma * (j + 1));
}

// z[i] as +1/-1.
constexpr float z_sign(std::uint64_t key, std::uint64_t i) {
  return ((z_word(key, i >> 6) >> (i & 63)) & 1u) ? 1.0f : -1.0f;
}

constexpr std::uint64_t sr_key(std::uint64_t seed, std::uint64_t pid) {
  return mix64(z_key(seed, pid) ^ kSrDomain);
}

// 32 uniform random bits for element i of the stochastic-rounding stream.
constexpr std::uint32_t sr_bits(std::uint64_t key, std::uint64_t i) {
  return static_cast<std::uint32_t>(z_word(key, i >> 1) >> ((i & 1u) * 32));
}

}  // namespace pocket
