// Little-endian byte encoding for the side-tuning wire protocol (docs/side-protocol.md): a writer
// that appends fields to a string and a reader that checks every read against the bytes it has,
// so a hostile or corrupt payload ends in a ProtocolError, never in a read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/error.h"

namespace pocket {

// The codes of the protocol's ERROR message (spec "Wire protocol v1").
enum class ErrorCode : std::uint16_t {
  kBadFrame = 1,
  kAuthFailed = 2,
  kModelMismatch = 3,
  kTaskMismatch = 4,
  kBusy = 5,
  kInternal = 6,
  kProtocolOrder = 7,
};

// A peer broke the protocol (a bad frame, a malformed payload, a wrong mac, a message out of
// order): the connection is closed, reconnecting does not help. `code` is what an ERROR message
// sent before closing carries. Network trouble is a NetError (side/socket.h) instead.
class ProtocolError : public Error {
 public:
  ProtocolError(ErrorCode code, const std::string& what) : Error("", what), code(code) {}
  ErrorCode code;
};

class ByteWriter {
 public:
  ByteWriter() : out_(&owned_) {}
  // Appends to `out` (which must outlive the writer) instead of a string of its own.
  explicit ByteWriter(std::string& out) : out_(&out) {}
  ByteWriter(const ByteWriter&) = delete;
  ByteWriter& operator=(const ByteWriter&) = delete;

  void u8(std::uint8_t v);
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void i32(std::int32_t v);
  void f32(float v);
  void bytes(const void* data, std::size_t n);
  void bytes(std::string_view data) { bytes(data.data(), data.size()); }

  const std::string& str() const { return *out_; }
  // The bytes written (moved out of the writer's own string; a copy of a given one).
  std::string take();

 private:
  std::string owned_;
  std::string* out_;
};

// Reads fields in order from bytes it does not own. `what` names the message in errors
// ("TASK: truncated payload: ..."). Every read throws ProtocolError(kBadFrame) past the end.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t n, const char* what)
      : data_(data), size_(n), what_(what) {}
  ByteReader(std::string_view data, const char* what)
      : ByteReader(reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), what) {}

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  std::uint64_t u64();
  std::int32_t i32();
  float f32();
  void bytes(void* out, std::size_t n);
  // The next `n` bytes as a view into the reader's data (no copy).
  std::string_view view(std::size_t n);

  std::size_t remaining() const { return size_ - offset_; }
  // Throws unless every byte was read: a payload longer than its fields is malformed.
  void finish() const;
  // Throws ProtocolError(kBadFrame, "<what>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const std::uint8_t* take(std::size_t n);

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
  const char* what_;
};

}  // namespace pocket
