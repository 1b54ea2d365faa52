#include "side/wire.h"

#include <bit>
#include <cstring>

namespace pocket {

namespace {

template <typename T>
void append_le(std::string& out, T v) {
  char le[sizeof(T)];
  for (std::size_t b = 0; b < sizeof(T); ++b) le[b] = static_cast<char>(v >> (8 * b));
  out.append(le, sizeof(T));
}

template <typename T>
T load_le(const std::uint8_t* p) {
  T v = 0;
  for (std::size_t b = 0; b < sizeof(T); ++b) v |= static_cast<T>(static_cast<T>(p[b]) << (8 * b));
  return v;
}

}  // namespace

void ByteWriter::u8(std::uint8_t v) { out_->push_back(static_cast<char>(v)); }
void ByteWriter::u16(std::uint16_t v) { append_le(*out_, v); }
void ByteWriter::u32(std::uint32_t v) { append_le(*out_, v); }
void ByteWriter::u64(std::uint64_t v) { append_le(*out_, v); }
void ByteWriter::i32(std::int32_t v) { append_le(*out_, static_cast<std::uint32_t>(v)); }
void ByteWriter::f32(float v) { append_le(*out_, std::bit_cast<std::uint32_t>(v)); }
void ByteWriter::bytes(const void* data, std::size_t n) {
  out_->append(static_cast<const char*>(data), n);
}

std::string ByteWriter::take() { return out_ == &owned_ ? std::move(owned_) : *out_; }

const std::uint8_t* ByteReader::take(std::size_t n) {
  if (n > remaining()) {
    fail("truncated payload: " + std::to_string(n) + " bytes needed at offset " +
         std::to_string(offset_) + " of " + std::to_string(size_));
  }
  const std::uint8_t* p = data_ + offset_;
  offset_ += n;
  return p;
}

std::uint8_t ByteReader::u8() { return *take(1); }
std::uint16_t ByteReader::u16() { return load_le<std::uint16_t>(take(2)); }
std::uint32_t ByteReader::u32() { return load_le<std::uint32_t>(take(4)); }
std::uint64_t ByteReader::u64() { return load_le<std::uint64_t>(take(8)); }
std::int32_t ByteReader::i32() { return static_cast<std::int32_t>(u32()); }
float ByteReader::f32() { return std::bit_cast<float>(u32()); }

void ByteReader::bytes(void* out, std::size_t n) {
  const std::uint8_t* p = take(n);
  if (n > 0) std::memcpy(out, p, n);
}

std::string_view ByteReader::view(std::size_t n) {
  return std::string_view(reinterpret_cast<const char*>(take(n)), n);
}

void ByteReader::finish() const {
  if (remaining() != 0) {
    fail("trailing bytes: " + std::to_string(remaining()) + " after the last field (payload of " +
         std::to_string(size_) + ")");
  }
}

void ByteReader::fail(const std::string& message) const {
  throw ProtocolError(ErrorCode::kBadFrame, std::string(what_) + ": " + message);
}

}  // namespace pocket
