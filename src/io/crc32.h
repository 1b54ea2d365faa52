// CRC-32 as in zlib, PNG and Ethernet: the reflected polynomial 0xEDB88320, initial value and final
// xor 0xFFFFFFFF. crc32("123456789") == 0xCBF43926. Used for the journal's records and the
// network protocol's frames; no dependency on zlib.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pocket {

// CRC-32 of `n` bytes at `data`, continuing from `crc` (the CRC of the bytes before them, 0 for
// none), as zlib's crc32(crc, data, n): crc32(b, nb, crc32(a, na)) is the CRC of a followed by b.
std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t crc = 0);

}  // namespace pocket
