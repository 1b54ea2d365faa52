#include "side/frame.h"

#include <cstring>
#include <limits>

#include "io/crc32.h"

namespace pocket {

namespace {

constexpr std::size_t kCrcOffset = 12;  // the header bytes the CRC covers: [0, 12)

std::uint32_t frame_crc(const std::uint8_t* header, std::string_view payload) {
  return crc32(payload.data(), payload.size(), crc32(header, kCrcOffset));
}

}  // namespace

const char* msg_type_name(MsgType type) {
  switch (type) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kChallenge:
      return "CHALLENGE";
    case MsgType::kAuth:
      return "AUTH";
    case MsgType::kWelcome:
      return "WELCOME";
    case MsgType::kError:
      return "ERROR";
    case MsgType::kTask:
      return "TASK";
    case MsgType::kTaskOk:
      return "TASK_OK";
    case MsgType::kExamples:
      return "EXAMPLES";
    case MsgType::kAck:
      return "ACK";
    case MsgType::kProgress:
      return "PROGRESS";
    case MsgType::kResult:
      return "RESULT";
    case MsgType::kBye:
      return "BYE";
  }
  return "?";
}

std::string encode_frame(MsgType type, std::string_view payload) {
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw ProtocolError(ErrorCode::kInternal, std::string(msg_type_name(type)) + " payload of " +
                                                  std::to_string(payload.size()) +
                                                  " bytes does not fit a frame");
  }
  std::string frame;
  frame.reserve(kFrameHeaderBytes + payload.size());
  ByteWriter out(frame);
  out.bytes(kFrameMagic, sizeof(kFrameMagic));
  out.u16(kProtocolVersion);
  out.u16(static_cast<std::uint16_t>(type));
  out.u32(static_cast<std::uint32_t>(payload.size()));
  out.u32(frame_crc(reinterpret_cast<const std::uint8_t*>(frame.data()), payload));
  out.bytes(payload);
  return frame;
}

FrameHeader decode_header(const std::uint8_t* header, std::uint32_t max_payload) {
  ByteReader in(header, kFrameHeaderBytes, "frame header");
  char magic[sizeof(kFrameMagic)];
  in.bytes(magic, sizeof(magic));
  if (std::memcmp(magic, kFrameMagic, sizeof(magic)) != 0) in.fail("bad magic (not PKSD)");
  const std::uint16_t version = in.u16();
  if (version != kProtocolVersion) {
    in.fail("protocol version " + std::to_string(version) + " (this build speaks " +
            std::to_string(kProtocolVersion) + ")");
  }
  const std::uint16_t type = in.u16();
  if (type < static_cast<std::uint16_t>(MsgType::kHello) ||
      type > static_cast<std::uint16_t>(MsgType::kBye)) {
    in.fail("unknown message type " + std::to_string(type));
  }
  FrameHeader out;
  out.type = static_cast<MsgType>(type);
  out.length = in.u32();
  if (out.length > max_payload) {
    in.fail(std::string(msg_type_name(out.type)) + " payload of " + std::to_string(out.length) +
            " bytes exceeds the limit of " + std::to_string(max_payload));
  }
  out.crc = in.u32();
  return out;
}

void check_frame_crc(const std::uint8_t* header_bytes, const FrameHeader& header,
                     std::string_view payload) {
  if (frame_crc(header_bytes, payload) != header.crc) {
    throw ProtocolError(ErrorCode::kBadFrame, std::string("frame: CRC mismatch in a ") +
                                                  msg_type_name(header.type) + " frame of " +
                                                  std::to_string(payload.size()) + " bytes");
  }
}

Frame read_frame(Socket& socket, std::uint32_t max_payload, int timeout_ms) {
  std::uint8_t header_bytes[kFrameHeaderBytes];
  socket.read_exact(header_bytes, sizeof(header_bytes), timeout_ms);
  const FrameHeader header = decode_header(header_bytes, max_payload);
  Frame frame;
  frame.type = header.type;
  frame.payload.resize(header.length);
  socket.read_exact(frame.payload.data(), frame.payload.size(), timeout_ms);
  check_frame_crc(header_bytes, header, frame.payload);
  return frame;
}

void write_frame(Socket& socket, MsgType type, std::string_view payload, int timeout_ms) {
  const std::string frame = encode_frame(type, payload);
  socket.write_all(frame.data(), frame.size(), timeout_ms);
}

}  // namespace pocket
