// The payloads of the side-tuning protocol's messages (docs/side-protocol.md has the byte
// offsets): one struct per message, encode_X → payload bytes, decode_X → struct. Decoding is
// strict: every length is checked against the bytes present before anything is allocated, every
// field against its range, and bytes left over are an error; all failures are
// ProtocolError(kBadFrame). The handshake macs are defined here once for both sides. The names live
// in pocket::msg (msg::Task, msg::Example): pocket::Task is the tuning task of task/task.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "side/auth.h"
#include "side/wire.h"

namespace pocket::msg {

using DeviceId = std::array<std::uint8_t, 16>;
using Nonce = std::array<std::uint8_t, 32>;

constexpr std::uint32_t kMaxClasses = 1u << 16;
constexpr std::uint32_t kMaxVectors = 1u << 12;     // L + 1: backbone layers plus the embeddings
constexpr std::uint32_t kMaxHidden = 1u << 20;      // d
constexpr std::uint64_t kMaxExamples = 1ull << 40;  // n_train, n_dev each
constexpr std::size_t kMaxResultChunk = 1u << 20;
constexpr std::size_t kMaxErrorMessage = 65535;

// 1 HELLO (device → server)
struct Hello {
  DeviceId device_id{};
  Nonce device_nonce{};
  Digest model_checksum{};
};

// 2 CHALLENGE (server → device)
struct Challenge {
  Nonce server_nonce{};
};

// 3 AUTH (device → server): mac = auth_mac_device(...)
struct Auth {
  Digest mac{};
};

// 4 WELCOME (server → device): mac = auth_mac_server(...)
struct Welcome {
  Digest mac{};
  bool job_exists = false;
};

// 5 ERROR (either way; the sender closes after it)
struct ErrorMessage {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // UTF-8; encode truncates it to kMaxErrorMessage bytes
};

enum class TaskKind : std::uint8_t { kClassification = 0, kLm = 1 };

// 6 TASK (device → server)
struct Task {
  TaskKind kind = TaskKind::kClassification;
  std::uint8_t act_bits = 8;             // 8 or 4
  std::uint32_t n_vectors = 0;           // L + 1
  std::uint32_t hidden = 0;              // d
  std::vector<std::int32_t> candidates;  // token ids, C ≥ 2 (classification); empty for lm
  std::uint64_t n_train = 0;
  std::uint64_t n_dev = 0;
  std::uint32_t reduction = 8;
  std::uint32_t epochs = 1;
  std::uint32_t batch = 1;
  float lr = 0.0f;
  std::uint64_t seed = 0;
};

// 7 TASK_OK (server → device)
struct TaskOk {
  std::uint64_t next_example = 0;  // examples [0, next_example) are held durably
  bool result_ready = false;
};

// One example of an EXAMPLES message: P = targets.size() ≥ 1 positions, and P·n_vectors encoded
// vectors (side/act_codec.h), position-major. `vectors` views bytes owned elsewhere: the payload
// it was decoded from, or the buffer the caller encodes from.
struct Example {
  std::vector<std::int32_t> targets;  // class index, or next-token id (lm); checked by the caller
  std::string_view vectors;
};

// 8 EXAMPLES (device → server)
struct Examples {
  std::uint64_t first_index = 0;
  std::vector<Example> examples;  // at least one
};

// 9 ACK (server → device)
struct Ack {
  std::uint64_t next_example = 0;
};

// 10 PROGRESS (server → device); NaN for a value not measured yet.
struct Progress {
  std::uint64_t step = 0;
  std::uint64_t total_steps = 0;
  std::uint32_t epoch = 0;
  float train_loss = 0.0f;
  float dev_accuracy = 0.0f;
  float dev_loss = 0.0f;
};

// 11 RESULT (server → device): bytes [offset, offset + chunk.size()) of the trained side network's
// safetensors file of total_bytes. `chunk` views the payload (1 ≤ size ≤ kMaxResultChunk).
struct ResultChunk {
  std::uint64_t total_bytes = 0;
  std::uint64_t offset = 0;
  std::string_view chunk;
};

// 12 BYE (device → server) has an empty payload.

std::string encode_hello(const Hello& m);
std::string encode_challenge(const Challenge& m);
std::string encode_auth(const Auth& m);
std::string encode_welcome(const Welcome& m);
std::string encode_error(const ErrorMessage& m);
std::string encode_task(const Task& m);
std::string encode_task_ok(const TaskOk& m);
// Throws ProtocolError(kInternal) when an example's vectors are not
// targets.size() · n_vectors · vector_bytes bytes.
std::string encode_examples(const Examples& m, std::uint32_t n_vectors, std::size_t vector_bytes);
std::string encode_ack(const Ack& m);
std::string encode_progress(const Progress& m);
std::string encode_result(const ResultChunk& m);
std::string encode_bye();

Hello decode_hello(std::string_view payload);
Challenge decode_challenge(std::string_view payload);
Auth decode_auth(std::string_view payload);
Welcome decode_welcome(std::string_view payload);
ErrorMessage decode_error(std::string_view payload);
Task decode_task(std::string_view payload);
TaskOk decode_task_ok(std::string_view payload);
// n_vectors and vector_bytes (act_vector_bytes(hidden, act_bits)) come from the job's TASK. The
// examples' vectors view `payload`, which must outlive the result.
Examples decode_examples(std::string_view payload, std::uint32_t n_vectors,
                         std::size_t vector_bytes);
Ack decode_ack(std::string_view payload);
Progress decode_progress(std::string_view payload);
// The chunk views `payload`, which must outlive the result.
ResultChunk decode_result(std::string_view payload);
void decode_bye(std::string_view payload);

// AUTH's mac: HMAC-SHA256(key, "pocket-side/1 device" ‖ server_nonce ‖ device_nonce ‖ device_id
// ‖ model_checksum), the label's 20 bytes without a terminator.
Digest auth_mac_device(std::string_view key, const Nonce& server_nonce, const Hello& hello);
// WELCOME's mac: HMAC-SHA256(key, "pocket-side/1 server" ‖ device_nonce ‖ server_nonce).
Digest auth_mac_server(std::string_view key, const Nonce& device_nonce, const Nonce& server_nonce);

}  // namespace pocket::msg
