// z on SIMD lanes: turns kFloatLanes consecutive bits of the z stream into a vector of ±c, and
// reads those bits sequentially along a flat index range (a row of a weight tensor).
#pragma once

#include <cstdint>

#include "kernels/simd.h"
#include "kernels/zrng.h"

namespace pocket {

// Sequential reader of z bits from flat index i0 on: take(n) returns the next n (≤ 32) bits,
// bit b of the result being z's bit for index i0 + (bits taken before) + b. One z_word per 64
// elements, as the definition has it.
class ZBitReader {
 public:
  ZBitReader(std::uint64_t key, std::uint64_t i0)
      : key_(key), word_index_(i0 >> 6), offset_(static_cast<int>(i0 & 63)),
        word_(z_word(key, i0 >> 6)) {}

  std::uint32_t take(int n) {
    std::uint64_t bits = word_ >> offset_;
    offset_ += n;
    if (offset_ >= 64) {
      word_ = z_word(key_, ++word_index_);
      offset_ -= 64;
      if (offset_ > 0) bits |= word_ << (n - offset_);
    }
    return static_cast<std::uint32_t>(bits & ((std::uint64_t{1} << n) - 1));
  }

 private:
  std::uint64_t key_;
  std::uint64_t word_index_;
  int offset_;
  std::uint64_t word_;
};

#if !defined(POCKET_SIMD_SCALAR)
// Lane l of signed_lanes(bits, c) is +c if bit l of `bits` is set, else -c  (i.e. c·z on
// kFloatLanes lanes); the intrinsics are in arch/<isa>/simd.h.
using simd::signed_lanes;
#endif

}  // namespace pocket
