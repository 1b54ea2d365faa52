// libFuzzer target for the side-tuning protocol's receive path: the frame header checks and CRC
// (src/side/frame.cpp), every message decoder (src/side/messages.cpp) and the activation codec's
// decoder (src/side/act_codec.cpp) on the vectors of an EXAMPLES message. `make fuzz` builds it
// with clang++, ASan and UBSan. Any input must decode or throw pocket::Error (ProtocolError for a
// peer's bytes), never read out of bounds or allocate from an unchecked length.
//
// Input: 4 bytes of job parameters (what the job's TASK fixed: n_vectors - 1, hidden as u16 LE
// minus 1, act bits 8 or 4 from the low bit), then one frame as sent (16-byte header, payload).
// The payload is decoded even when its CRC fails, so that the fuzzer reaches the decoders without
// having to forge CRCs; a receiver stops at the CRC, which is a narrower path than this.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "io/error.h"
#include "side/act_codec.h"
#include "side/frame.h"
#include "side/messages.h"

namespace {

using namespace pocket;

void decode_payload(MsgType type, std::string_view payload, std::uint32_t n_vectors,
                    std::int64_t hidden, int bits) {
  switch (type) {
    case MsgType::kHello:
      msg::decode_hello(payload);
      break;
    case MsgType::kChallenge:
      msg::decode_challenge(payload);
      break;
    case MsgType::kAuth:
      msg::decode_auth(payload);
      break;
    case MsgType::kWelcome:
      msg::decode_welcome(payload);
      break;
    case MsgType::kError:
      msg::decode_error(payload);
      break;
    case MsgType::kTask: {
      const msg::Task t = msg::decode_task(payload);
      if (t.act_bits != 8 && t.act_bits != 4) __builtin_trap();  // the decoder's range check
      break;
    }
    case MsgType::kTaskOk:
      msg::decode_task_ok(payload);
      break;
    case MsgType::kExamples: {
      const std::size_t vector_bytes = act_vector_bytes(hidden, bits);
      const msg::Examples m = msg::decode_examples(payload, n_vectors, vector_bytes);
      std::vector<float> x(static_cast<std::size_t>(hidden));
      for (const msg::Example& e : m.examples) {
        if (e.vectors.size() != e.targets.size() * n_vectors * vector_bytes) __builtin_trap();
        for (std::size_t at = 0; at < e.vectors.size(); at += vector_bytes) {
          dequantize_vector(reinterpret_cast<const std::uint8_t*>(e.vectors.data() + at), hidden,
                            bits, x.data());
          for (float v : x) {
            if (!std::isfinite(v)) __builtin_trap();  // a finite scale times |q| <= 127
          }
        }
      }
      break;
    }
    case MsgType::kAck:
      msg::decode_ack(payload);
      break;
    case MsgType::kProgress:
      msg::decode_progress(payload);
      break;
    case MsgType::kResult: {
      const msg::ResultChunk r = msg::decode_result(payload);
      if (r.chunk.empty() || r.chunk.size() > msg::kMaxResultChunk) __builtin_trap();
      break;
    }
    case MsgType::kBye:
      msg::decode_bye(payload);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4 + kFrameHeaderBytes) return 0;
  const std::uint32_t n_vectors = 1u + data[0];
  const std::int64_t hidden = 1 + (data[1] | (data[2] << 8));
  const int bits = (data[3] & 1) != 0 ? 4 : 8;
  const std::uint8_t* frame = data + 4;
  const std::size_t frame_size = size - 4;
  try {
    const FrameHeader header = decode_header(frame, 1u << 20);
    if (header.length > (1u << 20)) __builtin_trap();  // decode_header's own bound
    const std::size_t present = frame_size - kFrameHeaderBytes;
    const std::string_view payload(reinterpret_cast<const char*>(frame + kFrameHeaderBytes),
                                   header.length < present ? header.length : present);
    try {
      check_frame_crc(frame, header, payload);
    } catch (const Error&) {
    }
    decode_payload(header.type, payload, n_vectors, hidden, bits);
  } catch (const Error&) {
  }
  return 0;
}
