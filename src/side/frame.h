// Frames of the side-tuning protocol (docs/side-protocol.md): a 16-byte header, then the payload.
//
//    0: u8[4] magic "PKSD"   4: u16 version = 1   6: u16 type   8: u32 payload length
//   12: u32 CRC-32 (io/crc32.h) of header bytes 0..11 followed by the payload
//
// A receiver checks magic, version, type and length (≤ its maximum) from the header alone, before
// it reads or allocates the payload, then the CRC once the payload is in. Little-endian throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "side/socket.h"
#include "side/wire.h"

namespace pocket {

constexpr char kFrameMagic[4] = {'P', 'K', 'S', 'D'};
constexpr std::uint16_t kProtocolVersion = 1;
constexpr std::size_t kFrameHeaderBytes = 16;
constexpr std::uint32_t kDefaultMaxPayload = 16u << 20;

enum class MsgType : std::uint16_t {
  kHello = 1,
  kChallenge = 2,
  kAuth = 3,
  kWelcome = 4,
  kError = 5,
  kTask = 6,
  kTaskOk = 7,
  kExamples = 8,
  kAck = 9,
  kProgress = 10,
  kResult = 11,
  kBye = 12,
};

// "HELLO", "TASK_OK", ... for logs and errors ("?" for a value outside the enum).
const char* msg_type_name(MsgType type);

struct FrameHeader {
  MsgType type = MsgType::kHello;
  std::uint32_t length = 0;  // of the payload
  std::uint32_t crc = 0;
};

struct Frame {
  MsgType type = MsgType::kHello;
  std::string payload;
};

// Header and payload as sent. Throws ProtocolError(kInternal) for a payload over 4 GiB - 1.
std::string encode_frame(MsgType type, std::string_view payload);

// The checks of a received header, in order: magic, version, known type, length ≤ max_payload.
// Throws ProtocolError(kBadFrame) on the first that fails.
FrameHeader decode_header(const std::uint8_t* header, std::uint32_t max_payload);

// Throws ProtocolError(kBadFrame) unless header.crc is the CRC of `header_bytes` [0, 12) and the
// payload.
void check_frame_crc(const std::uint8_t* header_bytes, const FrameHeader& header,
                     std::string_view payload);

// Reads one frame: the header within `timeout_ms`, then the payload within `timeout_ms` more.
// ProtocolError for a bad frame (the payload of an oversized one is never read); NetError for
// the connection (closed, reset, timed out).
Frame read_frame(Socket& socket, std::uint32_t max_payload, int timeout_ms);

// Sends one frame (header and payload in one write) within `timeout_ms`.
void write_frame(Socket& socket, MsgType type, std::string_view payload, int timeout_ms);

}  // namespace pocket
