// Tests of src/side/frame* and src/side/wire*: frames round-trip over a socket pair and loopback
// TCP, each header check rejects in the spec's order (an oversized length before any payload is
// read), a flipped bit fails the CRC, a truncated frame is a closed connection and silence a
// timeout within about the deadline, and random headers only ever raise ProtocolError.
#include "side/frame.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "io/crc32.h"
#include "side/socket.h"
#include "side/wire.h"
#include "socket_pair.h"

using namespace pocket;

namespace {

constexpr int kTimeoutMs = 2000;  // for reads that must succeed or fail at once

std::string random_string(std::size_t n, std::mt19937& rng) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

const std::uint8_t* bytes_of(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// The ProtocolError message of decoding `header` (with a 1 KiB limit); "" if none.
std::string header_error(const std::string& header) {
  try {
    decode_header(bytes_of(header), 1024);
  } catch (const ProtocolError& e) {
    CHECK(e.code == ErrorCode::kBadFrame);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("side frame: the header layout of the spec") {
  const std::string frame = encode_frame(MsgType::kTaskOk, "abc");
  REQUIRE(frame.size() == kFrameHeaderBytes + 3);
  CHECK(frame.substr(0, 4) == "PKSD");
  CHECK(frame.substr(4, 2) == std::string("\x01\x00", 2));  // version 1
  CHECK(frame.substr(6, 2) == std::string("\x07\x00", 2));  // TASK_OK
  CHECK(frame.substr(8, 4) == std::string("\x03\x00\x00\x00", 4));
  std::uint32_t crc = 0;
  std::memcpy(&crc, frame.data() + 12, 4);
  const std::string covered = frame.substr(0, 12) + "abc";
  CHECK(crc == crc32(covered.data(), covered.size()));
  const FrameHeader header = decode_header(bytes_of(frame), kDefaultMaxPayload);
  CHECK(header.type == MsgType::kTaskOk);
  CHECK(header.length == 3);
  CHECK(header.crc == crc);
  CHECK(std::string(msg_type_name(MsgType::kTaskOk)) == "TASK_OK");
}

TEST_CASE("side frame: every type and payload size round-trips over a socket pair") {
  auto [a, b] = test::socket_pair();
  std::mt19937 rng(1);
  for (int type = 1; type <= 12; ++type) {
    for (const std::size_t n : {0, 1, 17, 4000}) {
      const std::string payload = random_string(n, rng);
      write_frame(a, static_cast<MsgType>(type), payload, kTimeoutMs);
      const Frame frame = read_frame(b, kDefaultMaxPayload, kTimeoutMs);
      CHECK(static_cast<int>(frame.type) == type);
      CHECK(frame.payload == payload);
    }
  }
}

TEST_CASE("side frame: a 4 MiB frame crosses loopback TCP (partial reads and writes)") {
  Listener listener = listen_tcp("127.0.0.1:0");
  std::mt19937 rng(2);
  const std::string payload = random_string(4u << 20, rng);
  std::thread sender([&] {
    try {
      Socket socket = connect_tcp("127.0.0.1:" + std::to_string(listener.port()), kTimeoutMs);
      write_frame(socket, MsgType::kExamples, payload, kTimeoutMs);
      write_frame(socket, MsgType::kBye, "", kTimeoutMs);
    } catch (const std::exception& e) {
      FAIL_CHECK(std::string(e.what()));
    }
  });
  std::optional<Socket> server = listener.accept(kTimeoutMs);
  REQUIRE(server.has_value());
  const Frame big = read_frame(*server, kDefaultMaxPayload, kTimeoutMs);
  const Frame bye = read_frame(*server, kDefaultMaxPayload, kTimeoutMs);
  sender.join();
  CHECK(big.type == MsgType::kExamples);
  CHECK(big.payload == payload);
  CHECK(bye.type == MsgType::kBye);
  CHECK(bye.payload.empty());
}

TEST_CASE("side frame: header checks reject in the spec's order") {
  const std::string good = encode_frame(MsgType::kHello, std::string(80, 'x'));
  CHECK(header_error(good.substr(0, 16)) == "");

  std::string bad_magic = good;
  bad_magic[3] = 'X';
  CHECK(header_error(bad_magic).find("bad magic") != std::string::npos);

  std::string bad_version = good;
  bad_version[4] = 2;
  CHECK(header_error(bad_version).find("protocol version 2") != std::string::npos);

  for (const int type : {0, 13, 0xFFFF}) {
    std::string bad_type = good;
    bad_type[6] = static_cast<char>(type & 0xFF);
    bad_type[7] = static_cast<char>(type >> 8);
    CHECK(header_error(bad_type).find("unknown message type " + std::to_string(type)) !=
          std::string::npos);
  }

  std::string oversized = good;
  oversized[8] = 0x01;  // 1025 bytes, the limit is 1024
  oversized[9] = 0x04;
  CHECK(header_error(oversized).find("1025 bytes exceeds the limit of 1024") != std::string::npos);

  // Several faults at once: the first check in the order is the one reported.
  std::string all_bad = oversized;
  all_bad[6] = 99;
  all_bad[4] = 9;
  CHECK(header_error(all_bad).find("protocol version 9") != std::string::npos);
  all_bad[0] = 'Q';
  CHECK(header_error(all_bad).find("bad magic") != std::string::npos);
  all_bad = oversized;
  all_bad[6] = 99;
  CHECK(header_error(all_bad).find("unknown message type 99") != std::string::npos);
}

TEST_CASE("side frame: an oversized length is rejected from the header, the payload unread") {
  auto [a, b] = test::socket_pair();
  std::string header = encode_frame(MsgType::kExamples, "").substr(0, kFrameHeaderBytes);
  header[8] = header[9] = header[10] = header[11] = '\xFF';  // 4 GiB - 1
  const std::string after = "next bytes";
  a.write_all(header.data(), header.size(), kTimeoutMs);
  a.write_all(after.data(), after.size(), kTimeoutMs);
  CHECK_THROWS_WITH_AS(read_frame(b, kDefaultMaxPayload, kTimeoutMs),
                       doctest::Contains("exceeds the limit of 16777216"), ProtocolError);
  std::string rest(after.size(), '\0');
  b.read_exact(rest.data(), rest.size(), kTimeoutMs);
  CHECK(rest == after);
}

TEST_CASE("side frame: any flipped bit fails the CRC") {
  const std::string payload = "resume from example 42";
  const std::string frame = encode_frame(MsgType::kAck, payload);
  for (std::size_t bit = 0; bit < 8 * payload.size(); ++bit) {
    std::string flipped = payload;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    const FrameHeader header = decode_header(bytes_of(frame), kDefaultMaxPayload);
    CHECK_THROWS_AS(check_frame_crc(bytes_of(frame), header, flipped), ProtocolError);
  }
  // A flipped CRC-covered header bit that passes the header checks (the type) fails it too.
  std::string header = frame.substr(0, kFrameHeaderBytes);
  header[6] = static_cast<char>(header[6] ^ 0x02);  // ACK (9) becomes RESULT (11)
  const FrameHeader changed = decode_header(bytes_of(header), kDefaultMaxPayload);
  CHECK(changed.type == MsgType::kResult);
  CHECK_THROWS_AS(check_frame_crc(bytes_of(header), changed, payload), ProtocolError);

  auto [a, b] = test::socket_pair();
  std::string corrupt = frame;
  corrupt.back() = static_cast<char>(corrupt.back() ^ 0x10);
  a.write_all(corrupt.data(), corrupt.size(), kTimeoutMs);
  CHECK_THROWS_WITH_AS(read_frame(b, kDefaultMaxPayload, kTimeoutMs),
                       doctest::Contains("CRC mismatch in a ACK frame"), ProtocolError);
}

TEST_CASE("side frame: a truncated frame is a closed connection") {
  const std::string frame = encode_frame(MsgType::kProgress, std::string(40, 'p'));
  SUBCASE("inside the header") {
    auto [a, b] = test::socket_pair();
    a.write_all(frame.data(), 5, kTimeoutMs);
    a.close();
    CHECK_THROWS_WITH_AS(read_frame(b, kDefaultMaxPayload, kTimeoutMs),
                         "pair-b: connection closed after 5 of 16 bytes", NetError);
  }
  SUBCASE("inside the payload") {
    auto [a, b] = test::socket_pair();
    a.write_all(frame.data(), kFrameHeaderBytes + 30, kTimeoutMs);
    a.shutdown_both();
    CHECK_THROWS_WITH_AS(read_frame(b, kDefaultMaxPayload, kTimeoutMs),
                         "pair-b: connection closed after 30 of 40 bytes", NetError);
  }
}

TEST_CASE("side frame: a silent peer times out within about the deadline") {
  auto [a, b] = test::socket_pair();
  const std::string frame = encode_frame(MsgType::kHello, std::string(80, 'h'));
  a.write_all(frame.data(), 20, kTimeoutMs);  // the header and 4 payload bytes, then silence
  const auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  try {
    read_frame(b, kDefaultMaxPayload, 150);
  } catch (const NetError& e) {
    timed_out = e.timed_out;
    CHECK(std::string(e.what()) == "pair-b: timed out after 150 ms reading 80 bytes (got 4)");
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(timed_out);
  CHECK(elapsed >= std::chrono::milliseconds(145));
  CHECK(elapsed < std::chrono::milliseconds(1000));
}

TEST_CASE("side frame: random and mutated headers only ever raise ProtocolError") {
  std::mt19937 rng(3);
  const std::string good = encode_frame(MsgType::kTask, std::string(100, 't'));
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string header = random_string(kFrameHeaderBytes, rng);
    if (i % 2 == 1) {  // a valid header with a few random bytes changed
      header = good.substr(0, kFrameHeaderBytes);
      for (int k = 0; k < 1 + i % 3; ++k)
        header[rng() % kFrameHeaderBytes] = static_cast<char>(rng());
    }
    try {
      const FrameHeader h = decode_header(bytes_of(header), 1u << 20);
      CHECK(h.length <= (1u << 20));
      ++accepted;
    } catch (const ProtocolError&) {
    }
  }
  CHECK(accepted > 0);
}

TEST_CASE("side wire: little-endian fields, bounds-checked reads, trailing bytes") {
  ByteWriter out;
  out.u8(0xAB);
  out.u16(0x1234);
  out.u32(0xDEADBEEF);
  out.u64(0x0102030405060708ull);
  out.i32(-2);
  out.f32(1.5f);
  out.bytes("xy", 2);
  const std::string bytes = out.take();
  CHECK(bytes.substr(0, 7) == std::string("\xAB\x34\x12\xEF\xBE\xAD\xDE", 7));
  CHECK(bytes.size() == 1 + 2 + 4 + 8 + 4 + 4 + 2);

  ByteReader in(bytes, "TEST");
  CHECK(in.u8() == 0xAB);
  CHECK(in.u16() == 0x1234);
  CHECK(in.u32() == 0xDEADBEEF);
  CHECK(in.u64() == 0x0102030405060708ull);
  CHECK(in.i32() == -2);
  CHECK(in.f32() == 1.5f);
  CHECK_THROWS_WITH_AS(in.finish(), "TEST: trailing bytes: 2 after the last field (payload of 25)",
                       ProtocolError);
  CHECK(in.view(2) == "xy");
  in.finish();
  CHECK_THROWS_WITH_AS(in.u8(), "TEST: truncated payload: 1 bytes needed at offset 25 of 25",
                       ProtocolError);

  std::string given = "head:";
  ByteWriter appender(given);
  appender.u16(0x0A0B);
  CHECK(given == std::string("head:\x0B\x0A", 7));
}
