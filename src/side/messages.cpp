#include "side/messages.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pocket::msg {

namespace {

template <std::size_t N>
void put_array(ByteWriter& out, const std::array<std::uint8_t, N>& a) {
  out.bytes(a.data(), a.size());
}

template <std::size_t N>
std::array<std::uint8_t, N> get_array(ByteReader& in) {
  std::array<std::uint8_t, N> a;
  in.bytes(a.data(), a.size());
  return a;
}

bool get_flag(ByteReader& in, const char* field) {
  const std::uint8_t v = in.u8();
  if (v > 1) in.fail(std::string(field) + " is " + std::to_string(v) + " (0 or 1)");
  return v == 1;
}

// Throws unless lo ≤ v ≤ hi.
void check_range(ByteReader& in, const char* field, std::uint64_t v, std::uint64_t lo,
                 std::uint64_t hi) {
  if (v < lo || v > hi) {
    in.fail(std::string(field) + " is " + std::to_string(v) + " (" + std::to_string(lo) + ".." +
            std::to_string(hi) + ")");
  }
}

constexpr std::uint32_t kMaxEpochs = 1u << 20;
constexpr std::uint32_t kMaxBatch = 1u << 20;
constexpr char kDeviceLabel[] = "pocket-side/1 device";
constexpr char kServerLabel[] = "pocket-side/1 server";

// The bytes of one position in an EXAMPLES record: its i32 target and its n_vectors vectors.
// 0 when that does not fit a size_t (no payload can hold such a position).
std::size_t position_bytes(std::uint32_t n_vectors, std::size_t vector_bytes) {
  if (vector_bytes > (std::numeric_limits<std::size_t>::max() - 4) / n_vectors) return 0;
  return 4 + n_vectors * vector_bytes;
}

}  // namespace

std::string encode_hello(const Hello& m) {
  ByteWriter out;
  put_array(out, m.device_id);
  put_array(out, m.device_nonce);
  put_array(out, m.model_checksum);
  return out.take();
}

Hello decode_hello(std::string_view payload) {
  ByteReader in(payload, "HELLO");
  Hello m;
  m.device_id = get_array<16>(in);
  m.device_nonce = get_array<32>(in);
  m.model_checksum = get_array<32>(in);
  in.finish();
  return m;
}

std::string encode_challenge(const Challenge& m) {
  ByteWriter out;
  put_array(out, m.server_nonce);
  return out.take();
}

Challenge decode_challenge(std::string_view payload) {
  ByteReader in(payload, "CHALLENGE");
  Challenge m;
  m.server_nonce = get_array<32>(in);
  in.finish();
  return m;
}

std::string encode_auth(const Auth& m) {
  ByteWriter out;
  put_array(out, m.mac);
  return out.take();
}

Auth decode_auth(std::string_view payload) {
  ByteReader in(payload, "AUTH");
  Auth m;
  m.mac = get_array<32>(in);
  in.finish();
  return m;
}

std::string encode_welcome(const Welcome& m) {
  ByteWriter out;
  put_array(out, m.mac);
  out.u8(m.job_exists ? 1 : 0);
  return out.take();
}

Welcome decode_welcome(std::string_view payload) {
  ByteReader in(payload, "WELCOME");
  Welcome m;
  m.mac = get_array<32>(in);
  m.job_exists = get_flag(in, "job_exists");
  in.finish();
  return m;
}

std::string encode_error(const ErrorMessage& m) {
  const std::size_t n = std::min(m.message.size(), kMaxErrorMessage);
  ByteWriter out;
  out.u16(static_cast<std::uint16_t>(m.code));
  out.u16(static_cast<std::uint16_t>(n));
  out.bytes(m.message.data(), n);
  return out.take();
}

ErrorMessage decode_error(std::string_view payload) {
  ByteReader in(payload, "ERROR");
  ErrorMessage m;
  const std::uint16_t code = in.u16();
  check_range(in, "code", code, static_cast<std::uint16_t>(ErrorCode::kBadFrame),
              static_cast<std::uint16_t>(ErrorCode::kProtocolOrder));
  m.code = static_cast<ErrorCode>(code);
  m.message = std::string(in.view(in.u16()));
  in.finish();
  return m;
}

std::string encode_task(const Task& m) {
  ByteWriter out;
  out.u8(static_cast<std::uint8_t>(m.kind));
  out.u8(m.act_bits);
  out.u16(0);
  out.u32(m.n_vectors);
  out.u32(m.hidden);
  out.u32(static_cast<std::uint32_t>(m.candidates.size()));
  for (const std::int32_t id : m.candidates) out.i32(id);
  out.u64(m.n_train);
  out.u64(m.n_dev);
  out.u32(m.reduction);
  out.u32(m.epochs);
  out.u32(m.batch);
  out.f32(m.lr);
  out.u64(m.seed);
  return out.take();
}

Task decode_task(std::string_view payload) {
  ByteReader in(payload, "TASK");
  Task m;
  const std::uint8_t kind = in.u8();
  check_range(in, "kind", kind, 0, 1);
  m.kind = static_cast<TaskKind>(kind);
  m.act_bits = in.u8();
  if (m.act_bits != 8 && m.act_bits != 4) {
    in.fail("act_bits is " + std::to_string(m.act_bits) + " (8 or 4)");
  }
  check_range(in, "reserved", in.u16(), 0, 0);
  m.n_vectors = in.u32();
  check_range(in, "n_vectors", m.n_vectors, 2, kMaxVectors);
  m.hidden = in.u32();
  check_range(in, "hidden", m.hidden, 1, kMaxHidden);
  const std::uint32_t n_classes = in.u32();
  if (m.kind == TaskKind::kLm) {
    check_range(in, "n_classes (lm)", n_classes, 0, 0);
  } else {
    check_range(in, "n_classes", n_classes, 2, kMaxClasses);
  }
  if (in.remaining() / 4 < n_classes) {
    in.fail(std::to_string(n_classes) + " candidates need " + std::to_string(4ull * n_classes) +
            " bytes, " + std::to_string(in.remaining()) + " left");
  }
  m.candidates.resize(n_classes);
  for (std::int32_t& id : m.candidates) {
    id = in.i32();
    if (id < 0) in.fail("candidate token id " + std::to_string(id) + " is negative");
  }
  m.n_train = in.u64();
  check_range(in, "n_train", m.n_train, 1, kMaxExamples);
  m.n_dev = in.u64();
  check_range(in, "n_dev", m.n_dev, 0, kMaxExamples);
  m.reduction = in.u32();
  check_range(in, "reduction", m.reduction, 1, m.hidden);
  m.epochs = in.u32();
  check_range(in, "epochs", m.epochs, 1, kMaxEpochs);
  m.batch = in.u32();
  check_range(in, "batch", m.batch, 1, kMaxBatch);
  m.lr = in.f32();
  if (!std::isfinite(m.lr) || m.lr <= 0.0f) in.fail("lr is " + std::to_string(m.lr) + " (> 0)");
  m.seed = in.u64();
  in.finish();
  return m;
}

std::string encode_task_ok(const TaskOk& m) {
  ByteWriter out;
  out.u64(m.next_example);
  out.u8(m.result_ready ? 1 : 0);
  return out.take();
}

TaskOk decode_task_ok(std::string_view payload) {
  ByteReader in(payload, "TASK_OK");
  TaskOk m;
  m.next_example = in.u64();
  m.result_ready = get_flag(in, "result_ready");
  in.finish();
  return m;
}

std::string encode_examples(const Examples& m, std::uint32_t n_vectors, std::size_t vector_bytes) {
  std::string payload;
  ByteWriter out(payload);
  out.u64(m.first_index);
  out.u32(static_cast<std::uint32_t>(m.examples.size()));
  for (const Example& example : m.examples) {
    const std::size_t want = example.targets.size() * n_vectors * vector_bytes;
    if (example.vectors.size() != want) {
      throw ProtocolError(ErrorCode::kInternal,
                          "EXAMPLES: an example of " + std::to_string(example.targets.size()) +
                              " positions has " + std::to_string(example.vectors.size()) +
                              " bytes of vectors, not " + std::to_string(want));
    }
    out.u32(static_cast<std::uint32_t>(example.targets.size()));
    for (const std::int32_t target : example.targets) out.i32(target);
    out.bytes(example.vectors);
  }
  return payload;
}

Examples decode_examples(std::string_view payload, std::uint32_t n_vectors,
                         std::size_t vector_bytes) {
  ByteReader in(payload, "EXAMPLES");
  const std::size_t per_position = n_vectors == 0 ? 0 : position_bytes(n_vectors, vector_bytes);
  if (per_position == 0 || vector_bytes == 0) {
    in.fail("no payload holds positions of " + std::to_string(n_vectors) + " vectors of " +
            std::to_string(vector_bytes) + " bytes");
  }
  Examples m;
  m.first_index = in.u64();
  const std::uint32_t count = in.u32();
  if (count == 0) in.fail("no examples");
  if (m.first_index > std::numeric_limits<std::uint64_t>::max() - count) {
    in.fail("example indices overflow (first_index " + std::to_string(m.first_index) + ")");
  }
  // Each example takes at least its u32 P and one position: bound count by the bytes present
  // before reserving anything for it.
  const std::size_t min_example = 4 + per_position;
  if (count > in.remaining() / min_example) {
    in.fail(std::to_string(count) + " examples need at least " + std::to_string(min_example) +
            " bytes each, " + std::to_string(in.remaining()) + " left");
  }
  m.examples.resize(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Example& example = m.examples[i];
    const std::uint32_t n_positions = in.u32();
    if (n_positions == 0) in.fail("example " + std::to_string(i) + " has no positions");
    if (n_positions > in.remaining() / per_position) {
      in.fail("example " + std::to_string(i) + ": " + std::to_string(n_positions) +
              " positions need " + std::to_string(per_position) + " bytes each, " +
              std::to_string(in.remaining()) + " left");
    }
    example.targets.resize(n_positions);
    for (std::int32_t& target : example.targets) target = in.i32();
    example.vectors = in.view(std::size_t{n_positions} * (per_position - 4));
  }
  in.finish();
  return m;
}

std::string encode_ack(const Ack& m) {
  ByteWriter out;
  out.u64(m.next_example);
  return out.take();
}

Ack decode_ack(std::string_view payload) {
  ByteReader in(payload, "ACK");
  Ack m;
  m.next_example = in.u64();
  in.finish();
  return m;
}

std::string encode_progress(const Progress& m) {
  ByteWriter out;
  out.u64(m.step);
  out.u64(m.total_steps);
  out.u32(m.epoch);
  out.u32(0);
  out.f32(m.train_loss);
  out.f32(m.dev_accuracy);
  out.f32(m.dev_loss);
  return out.take();
}

Progress decode_progress(std::string_view payload) {
  ByteReader in(payload, "PROGRESS");
  Progress m;
  m.step = in.u64();
  m.total_steps = in.u64();
  m.epoch = in.u32();
  check_range(in, "reserved", in.u32(), 0, 0);
  m.train_loss = in.f32();
  m.dev_accuracy = in.f32();
  m.dev_loss = in.f32();
  in.finish();
  return m;
}

std::string encode_result(const ResultChunk& m) {
  ByteWriter out;
  out.u64(m.total_bytes);
  out.u64(m.offset);
  out.bytes(m.chunk);
  return out.take();
}

ResultChunk decode_result(std::string_view payload) {
  ByteReader in(payload, "RESULT");
  ResultChunk m;
  m.total_bytes = in.u64();
  m.offset = in.u64();
  const std::size_t n = in.remaining();
  check_range(in, "chunk size", n, 1, kMaxResultChunk);
  if (m.offset > m.total_bytes || n > m.total_bytes - m.offset) {
    in.fail("chunk [" + std::to_string(m.offset) + ", +" + std::to_string(n) + ") is past the " +
            std::to_string(m.total_bytes) + " bytes of the file");
  }
  m.chunk = in.view(n);
  in.finish();
  return m;
}

std::string encode_bye() { return std::string(); }

void decode_bye(std::string_view payload) { ByteReader(payload, "BYE").finish(); }

Digest auth_mac_device(std::string_view key, const Nonce& server_nonce, const Hello& hello) {
  ByteWriter data;
  data.bytes(kDeviceLabel, sizeof(kDeviceLabel) - 1);
  put_array(data, server_nonce);
  put_array(data, hello.device_nonce);
  put_array(data, hello.device_id);
  put_array(data, hello.model_checksum);
  return hmac_sha256(key, data.str());
}

Digest auth_mac_server(std::string_view key, const Nonce& device_nonce, const Nonce& server_nonce) {
  ByteWriter data;
  data.bytes(kServerLabel, sizeof(kServerLabel) - 1);
  put_array(data, device_nonce);
  put_array(data, server_nonce);
  return hmac_sha256(key, data.str());
}

}  // namespace pocket::msg
