#include "io/crc32.h"

#include <array>

namespace pocket {

namespace {

// table[b] = the CRC register after shifting byte b through it bit by bit (reflected: the lowest
// bit first), so that one table look-up advances the register by a whole byte.
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t reg = b;
    for (int bit = 0; bit < 8; ++bit) reg = (reg & 1u) ? (reg >> 1) ^ 0xEDB88320u : reg >> 1;
    table[b] = reg;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();

}  // namespace

// Byte at a time: the journal checksums 44 bytes per step and frames are small; no need for
// slicing-by-8 here.
std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t crc) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::uint32_t reg = ~crc;
  for (std::size_t i = 0; i < n; ++i) reg = kCrc32Table[(reg ^ bytes[i]) & 0xFFu] ^ (reg >> 8);
  return ~reg;
}

}  // namespace pocket
