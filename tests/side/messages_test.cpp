// Tests of src/side/messages*: every message round-trips; every prefix and every extra byte of a
// payload is rejected; each out-of-range field of TASK and each malformed length of EXAMPLES and
// RESULT is a ProtocolError (a hostile count never allocates for it); 1000 random and mutated
// payloads per decoder raise nothing else; the handshake macs match values computed with Python's
// hmac module (docs/side-protocol.md shows the same example).
#include "side/messages.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "side/model_checksum.h"
#include "side/wire.h"

using namespace pocket;
using namespace pocket::msg;

namespace {

using Decoder = std::function<void(std::string_view)>;

// 8-bit codes of d = 5: a 4-byte scale and 5 codes (act_vector_bytes(5, 8)).
constexpr std::uint32_t kVectors = 3;
constexpr std::size_t kVectorBytes = 9;

template <std::size_t N>
std::array<std::uint8_t, N> counting_bytes(std::uint8_t first) {
  std::array<std::uint8_t, N> a;
  for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(first + i);
  return a;
}

Task sample_task() {
  Task t;
  t.kind = TaskKind::kClassification;
  t.act_bits = 4;
  t.n_vectors = 25;
  t.hidden = 1024;
  t.candidates = {1, 4, 70000};
  t.n_train = 1000;
  t.n_dev = 200;
  t.reduction = 8;
  t.epochs = 3;
  t.batch = 16;
  t.lr = 1e-3f;
  t.seed = 0xFEEDFACECAFEBEEFull;
  return t;
}

// Two examples (P = 1 and P = 3) whose vectors view `storage`.
Examples sample_examples(std::string& storage) {
  storage.clear();
  for (std::size_t i = 0; i < 4 * kVectors * kVectorBytes; ++i) {
    storage.push_back(static_cast<char>(i * 7));
  }
  const std::string_view all(storage);
  Examples m;
  m.first_index = 1000;
  m.examples.push_back({{2}, all.substr(0, kVectors * kVectorBytes)});
  m.examples.push_back({{17, -1, 50256}, all.substr(kVectors * kVectorBytes)});
  return m;
}

Examples decode_sample_examples(std::string_view payload) {
  return decode_examples(payload, kVectors, kVectorBytes);
}

struct Case {
  const char* name;
  std::string payload;
  Decoder decode;
};

// A valid payload of every message, with its decoder.
std::vector<Case> all_messages(std::string& storage) {
  Hello hello{counting_bytes<16>(0), counting_bytes<32>(16), counting_bytes<32>(48)};
  Examples examples = sample_examples(storage);
  const std::string chunk(100, 'r');
  ResultChunk result{300, 200, {}};
  std::vector<Case> cases = {
      {"HELLO", encode_hello(hello), [](std::string_view p) { decode_hello(p); }},
      {"CHALLENGE", encode_challenge({counting_bytes<32>(80)}),
       [](std::string_view p) { decode_challenge(p); }},
      {"AUTH", encode_auth({counting_bytes<32>(1)}), [](std::string_view p) { decode_auth(p); }},
      {"WELCOME", encode_welcome({counting_bytes<32>(2), true}),
       [](std::string_view p) { decode_welcome(p); }},
      {"ERROR", encode_error({ErrorCode::kTaskMismatch, "task differs"}),
       [](std::string_view p) { decode_error(p); }},
      {"TASK", encode_task(sample_task()), [](std::string_view p) { decode_task(p); }},
      {"TASK_OK", encode_task_ok({12, false}), [](std::string_view p) { decode_task_ok(p); }},
      {"EXAMPLES", encode_examples(examples, kVectors, kVectorBytes),
       [](std::string_view p) { decode_sample_examples(p); }},
      {"ACK", encode_ack({1002}), [](std::string_view p) { decode_ack(p); }},
      {"PROGRESS", encode_progress({5, 100, 1, 0.5f, NAN, NAN}),
       [](std::string_view p) { decode_progress(p); }},
  };
  result.chunk = chunk;
  cases.push_back({"RESULT", encode_result(result), [](std::string_view p) { decode_result(p); }});
  cases.push_back({"BYE", encode_bye(), [](std::string_view p) { decode_bye(p); }});
  return cases;
}

// The ProtocolError message of `decode(payload)`; "" if it decoded.
std::string error_of(const Decoder& decode, std::string_view payload) {
  try {
    decode(payload);
  } catch (const ProtocolError& e) {
    CHECK(e.code == ErrorCode::kBadFrame);
    return e.what();
  }
  return "";
}

void patch_u32(std::string& payload, std::size_t offset, std::uint32_t v) {
  std::memcpy(payload.data() + offset, &v, 4);  // the tests run little-endian
}
void patch_u64(std::string& payload, std::size_t offset, std::uint64_t v) {
  std::memcpy(payload.data() + offset, &v, 8);
}

}  // namespace

TEST_CASE("side messages: every message round-trips") {
  const Hello hello{counting_bytes<16>(0), counting_bytes<32>(16), counting_bytes<32>(48)};
  const Hello h = decode_hello(encode_hello(hello));
  CHECK(h.device_id == hello.device_id);
  CHECK(h.device_nonce == hello.device_nonce);
  CHECK(h.model_checksum == hello.model_checksum);
  CHECK(encode_hello(hello).size() == 80);

  CHECK(decode_challenge(encode_challenge({counting_bytes<32>(9)})).server_nonce ==
        counting_bytes<32>(9));
  CHECK(decode_auth(encode_auth({counting_bytes<32>(3)})).mac == counting_bytes<32>(3));
  for (const bool exists : {false, true}) {
    const Welcome w = decode_welcome(encode_welcome({counting_bytes<32>(4), exists}));
    CHECK(w.mac == counting_bytes<32>(4));
    CHECK(w.job_exists == exists);
  }

  const ErrorMessage e = decode_error(encode_error({ErrorCode::kBusy, "server busy: 4 jobs"}));
  CHECK(e.code == ErrorCode::kBusy);
  CHECK(e.message == "server busy: 4 jobs");
  const std::string long_text(70000, 'e');
  CHECK(decode_error(encode_error({ErrorCode::kInternal, long_text})).message.size() ==
        kMaxErrorMessage);

  for (const TaskKind kind : {TaskKind::kClassification, TaskKind::kLm}) {
    Task task = sample_task();
    task.kind = kind;
    if (kind == TaskKind::kLm) task.candidates.clear();
    const std::string payload = encode_task(task);
    CHECK(payload.size() == 16 + 4 * task.candidates.size() + 40);
    const Task t = decode_task(payload);
    CHECK(t.kind == task.kind);
    CHECK(t.act_bits == task.act_bits);
    CHECK(t.n_vectors == task.n_vectors);
    CHECK(t.hidden == task.hidden);
    CHECK(t.candidates == task.candidates);
    CHECK(t.n_train == task.n_train);
    CHECK(t.n_dev == task.n_dev);
    CHECK(t.reduction == task.reduction);
    CHECK(t.epochs == task.epochs);
    CHECK(t.batch == task.batch);
    CHECK(t.lr == task.lr);
    CHECK(t.seed == task.seed);
  }

  const TaskOk ok = decode_task_ok(encode_task_ok({77, true}));
  CHECK(ok.next_example == 77);
  CHECK(ok.result_ready);
  CHECK(decode_ack(encode_ack({1ull << 40})).next_example == 1ull << 40);

  const Progress p = decode_progress(encode_progress({7, 90, 2, 1.25f, 0.75f, NAN}));
  CHECK(p.step == 7);
  CHECK(p.total_steps == 90);
  CHECK(p.epoch == 2);
  CHECK(p.train_loss == 1.25f);
  CHECK(p.dev_accuracy == 0.75f);
  CHECK(std::isnan(p.dev_loss));

  const std::string chunk = "safetensors bytes";
  const std::string result_payload = encode_result({100, 83, chunk});
  const ResultChunk r = decode_result(result_payload);
  CHECK(r.total_bytes == 100);
  CHECK(r.offset == 83);
  CHECK(r.chunk == chunk);

  CHECK(encode_bye().empty());
  decode_bye("");
}

TEST_CASE("side messages: EXAMPLES round-trip with views into the payload") {
  std::string storage;
  const Examples sent = sample_examples(storage);
  const std::string payload = encode_examples(sent, kVectors, kVectorBytes);
  CHECK(payload.size() == 12 + (4 + 4 + 27) + (4 + 12 + 81));
  const Examples got = decode_examples(payload, kVectors, kVectorBytes);
  CHECK(got.first_index == 1000);
  REQUIRE(got.examples.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(got.examples[i].targets == sent.examples[i].targets);
    CHECK(got.examples[i].vectors == sent.examples[i].vectors);
    CHECK(got.examples[i].vectors.data() >= payload.data());
    CHECK(got.examples[i].vectors.data() < payload.data() + payload.size());
  }
  // 4-bit codes of d = 5: 4 + 3 bytes per vector.
  Examples four_bit;
  const std::string codes(2 * kVectors * 7, '\x5A');
  four_bit.examples.push_back({{3, 4}, codes});
  const std::string four_bit_payload = encode_examples(four_bit, kVectors, 7);
  const Examples back = decode_examples(four_bit_payload, kVectors, 7);
  CHECK(back.examples.at(0).vectors == codes);

  Examples wrong = sent;
  wrong.examples[1].vectors = wrong.examples[1].vectors.substr(1);
  CHECK_THROWS_WITH_AS(encode_examples(wrong, kVectors, kVectorBytes),
                       "EXAMPLES: an example of 3 positions has 80 bytes of vectors, not 81",
                       ProtocolError);
}

TEST_CASE("side messages: every prefix and every extra byte is rejected") {
  std::string storage;
  for (const Case& c : all_messages(storage)) {
    CAPTURE(c.name);
    CHECK(error_of(c.decode, c.payload) == "");
    // RESULT's chunk is the rest of the payload: a shorter one is a valid (smaller) chunk.
    const std::size_t fixed = std::string(c.name) == "RESULT" ? 17 : c.payload.size();
    for (std::size_t n = 0; n < fixed; ++n) {
      CAPTURE(n);
      CHECK(error_of(c.decode, std::string_view(c.payload).substr(0, n)) != "");
    }
    CHECK(error_of(c.decode, c.payload + "!") != "");
  }
}

TEST_CASE("side messages: TASK fields out of range") {
  const std::string good = encode_task(sample_task());  // C = 3: n_train at 28
  const std::size_t tail = 16 + 4 * 3;
  const auto bad = [&](std::size_t offset, std::uint32_t v, const std::string& phrase) {
    std::string payload = good;
    patch_u32(payload, offset, v);
    const std::string error = error_of([](std::string_view p) { decode_task(p); }, payload);
    CAPTURE(phrase);
    CAPTURE(error);
    CHECK(error.find(phrase) != std::string::npos);
  };
  bad(0, 0x0802, "TASK: kind is 2 (0..1)");  // kind 2, act_bits 8, reserved 0
  bad(0, 0x0500, "TASK: act_bits is 5 (8 or 4)");
  bad(0, 0x10400, "TASK: reserved is 1 (0..0)");
  bad(4, 1, "n_vectors is 1 (2..4096)");
  bad(4, kMaxVectors + 1, "n_vectors is 4097");
  bad(8, 0, "hidden is 0 (1..");
  bad(12, 1, "n_classes is 1 (2..65536)");
  bad(12, kMaxClasses + 1, "n_classes is 65537");
  bad(12, kMaxClasses, "65536 candidates need 262144 bytes, 52 left");
  bad(0, 0x0401, "n_classes (lm) is 3 (0..0)");  // an lm task with candidates
  bad(20, 0xFFFFFFFF, "candidate token id -1 is negative");
  bad(tail, 0, "n_train is 0");
  bad(tail + 16, 0, "reduction is 0 (1..1024)");
  bad(tail + 16, 1025, "reduction is 1025 (1..1024)");
  bad(tail + 20, 0, "epochs is 0");
  bad(tail + 24, 0, "batch is 0");
  bad(tail + 28, 0, "lr is 0");
  bad(tail + 28, 0x7FC00000, "lr is nan");
  bad(tail + 28, 0x7F800000, "lr is inf");
  bad(tail + 28, 0xBF800000, "lr is -1");
  std::string huge_n = good;
  patch_u64(huge_n, tail, kMaxExamples + 1);
  CHECK(error_of([](std::string_view p) { decode_task(p); }, huge_n).find("n_train is") !=
        std::string::npos);
}

TEST_CASE("side messages: malformed EXAMPLES lengths") {
  std::string storage;
  const std::string good = encode_examples(sample_examples(storage), kVectors, kVectorBytes);
  const Decoder decode = [](std::string_view p) { decode_sample_examples(p); };
  const auto with_u32 = [&](std::size_t offset, std::uint32_t v) {
    std::string payload = good;
    patch_u32(payload, offset, v);
    return error_of(decode, payload);
  };
  // count (offset 8): none, one more than present, and a hostile 2^32 - 1 that must not allocate.
  CHECK(with_u32(8, 0) == "EXAMPLES: no examples");
  CHECK(with_u32(8, 3).find("EXAMPLES: truncated payload") == 0);
  CHECK(with_u32(8, 0xFFFFFFFF) ==
        "EXAMPLES: 4294967295 examples need at least 35 bytes each, 132 left");
  // P of the first example (offset 12): zero, too many for the bytes left, hostile, and one
  // more than sent (its records then run into the next example and leave it short).
  CHECK(with_u32(12, 0) == "EXAMPLES: example 0 has no positions");
  CHECK(with_u32(12, 0xFFFFFFFF) ==
        "EXAMPLES: example 0: 4294967295 positions need 31 bytes each, 128 left");
  CHECK(with_u32(12, 2) != "");
  // P of the second example (offset 12 + 4 + 4 + 27 = 47): one fewer leaves trailing bytes.
  CHECK(with_u32(47, 2).find("EXAMPLES: trailing bytes: 31") == 0);
  // first_index + count past 2^64.
  std::string overflow = good;
  patch_u64(overflow, 0, std::numeric_limits<std::uint64_t>::max());
  CHECK(error_of(decode, overflow).find("example indices overflow") != std::string::npos);
  // A caller's vector sizes no payload can hold are an error, not an overflow.
  CHECK_THROWS_AS(decode_examples(good, 0xFFFFFFFF, std::numeric_limits<std::size_t>::max()),
                  ProtocolError);
  CHECK_THROWS_AS(decode_examples(good, kVectors, 0), ProtocolError);
  CHECK_THROWS_AS(decode_examples(good, 0, kVectorBytes), ProtocolError);
}

TEST_CASE("side messages: malformed RESULT, ERROR, WELCOME, TASK_OK, PROGRESS") {
  const auto result_error = [](std::uint64_t total, std::uint64_t offset, std::size_t n) {
    return error_of([](std::string_view p) { decode_result(p); },
                    encode_result({total, offset, std::string(n, 'x')}));
  };
  CHECK(result_error(10, 0, 10) == "");
  CHECK(result_error(10, 10, 0) == "RESULT: chunk size is 0 (1..1048576)");
  CHECK(result_error(kMaxResultChunk + 1, 0, kMaxResultChunk + 1) ==
        "RESULT: chunk size is 1048577 (1..1048576)");
  CHECK(result_error(10, 5, 6) == "RESULT: chunk [5, +6) is past the 10 bytes of the file");
  CHECK(result_error(10, 11, 1).find("is past the 10 bytes") != std::string::npos);
  CHECK(result_error(std::numeric_limits<std::uint64_t>::max(),
                     std::numeric_limits<std::uint64_t>::max(), 1)
            .find("is past") != std::string::npos);

  std::string error_payload = encode_error({ErrorCode::kAuthFailed, "no"});
  error_payload[0] = 8;
  CHECK(error_of([](std::string_view p) { decode_error(p); }, error_payload) ==
        "ERROR: code is 8 (1..7)");
  error_payload[0] = 0;
  CHECK(error_of([](std::string_view p) { decode_error(p); }, error_payload) ==
        "ERROR: code is 0 (1..7)");

  std::string welcome = encode_welcome({counting_bytes<32>(0), true});
  welcome.back() = 2;
  CHECK(error_of([](std::string_view p) { decode_welcome(p); }, welcome) ==
        "WELCOME: job_exists is 2 (0 or 1)");
  std::string task_ok = encode_task_ok({1, true});
  task_ok.back() = 7;
  CHECK(error_of([](std::string_view p) { decode_task_ok(p); }, task_ok) ==
        "TASK_OK: result_ready is 7 (0 or 1)");
  std::string progress = encode_progress({});
  progress[20] = 1;
  CHECK(error_of([](std::string_view p) { decode_progress(p); }, progress) ==
        "PROGRESS: reserved is 1 (0..0)");
  CHECK(error_of([](std::string_view p) { decode_bye(p); }, "x") ==
        "BYE: trailing bytes: 1 after the last field (payload of 1)");
}

TEST_CASE("side messages: random and mutated payloads only ever raise ProtocolError") {
  std::string storage;
  std::mt19937 rng(11);
  for (const Case& c : all_messages(storage)) {
    CAPTURE(c.name);
    for (int i = 0; i < 1000; ++i) {
      std::string payload;
      if (i % 2 == 0) {
        payload.resize(rng() % 200);
        for (char& ch : payload) ch = static_cast<char>(rng());
      } else {  // a valid payload with a few bytes changed
        payload = c.payload.empty() ? std::string(1, '?') : c.payload;
        for (int k = 0; k < 1 + i % 4; ++k)
          payload[rng() % payload.size()] = static_cast<char>(rng());
      }
      try {
        c.decode(payload);
      } catch (const ProtocolError&) {
      }
    }
  }
}

TEST_CASE("side messages: the handshake macs") {
#ifndef POCKET_HAVE_OPENSSL
  MESSAGE("built without OpenSSL: skipped");
  return;
#endif
  // The worked example of docs/side-protocol.md, computed with Python's hmac module.
  const std::string key = "0123456789abcdef";
  const Hello hello{counting_bytes<16>(0), counting_bytes<32>(16), counting_bytes<32>(48)};
  const Nonce server_nonce = counting_bytes<32>(80);
  CHECK(digest_hex(auth_mac_device(key, server_nonce, hello)) ==
        "61d4b3eb48c7eb68de28ca87c794f72b497e42968ff92cc81344d1897174394d");
  CHECK(digest_hex(auth_mac_server(key, hello.device_nonce, server_nonce)) ==
        "af8602b69482b149ec9e3de32689283e56418dc4e0fdbc2ce2fa49af011f9f3e");

  // Each input changes the device's mac; the other key changes both.
  const Digest base = auth_mac_device(key, server_nonce, hello);
  Hello other = hello;
  other.device_id[0] ^= 1;
  CHECK(auth_mac_device(key, server_nonce, other) != base);
  other = hello;
  other.device_nonce[31] ^= 1;
  CHECK(auth_mac_device(key, server_nonce, other) != base);
  other = hello;
  other.model_checksum[5] ^= 1;
  CHECK(auth_mac_device(key, server_nonce, other) != base);
  Nonce other_nonce = server_nonce;
  other_nonce[0] ^= 1;
  CHECK(auth_mac_device(key, other_nonce, hello) != base);
  CHECK(auth_mac_device("0123456789abcdeF", server_nonce, hello) != base);
  CHECK(auth_mac_server("0123456789abcdeF", hello.device_nonce, server_nonce) !=
        auth_mac_server(key, hello.device_nonce, server_nonce));
}
