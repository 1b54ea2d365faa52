// Seeds for the journal and side-protocol fuzz targets, made by the project's own writers (the
// Journal class, encode_frame and the message encoders, the activation codec) so that the fuzzer
// starts from valid inputs: `write_seeds journal DIR` and `write_seeds side DIR` (make fuzz).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "side/act_codec.h"
#include "side/frame.h"
#include "side/messages.h"
#include "zo/journal.h"

namespace {

using namespace pocket;

void write(const std::string& path, const std::string& bytes) {
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fclose(out);
}

std::string slurp(const std::string& path) {
  std::string bytes;
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (in == nullptr) std::exit(1);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) bytes.append(buf, n);
  std::fclose(in);
  return bytes;
}

void journal_seeds(const std::string& dir) {
  const std::string path = dir + "/seed-journal.bin";
  std::remove(path.c_str());
  {
    Journal journal(path);
    for (std::uint64_t step = 1; step <= 3; ++step) {
      JournalRecord r;
      r.step = step;
      r.seed = 0x9e3779b97f4a7c15ull * step;
      r.g = 0.25f * static_cast<float>(step);
      r.lr = 1e-3f;
      r.loss_plus = 2.0 + static_cast<double>(step);
      r.loss_minus = 2.5;
      r.status = step == 2 ? StepStatus::kRejected : StepStatus::kAccepted;
      journal.append(r, false);
    }
  }
  const std::string good = slurp(path);
  write(dir + "/seed-journal-torn.bin", good.substr(0, good.size() - 20));  // a crash mid-append
}

// 4 bytes of job parameters (side_protocol_fuzz.cpp), then the frame.
void side_seed(const std::string& dir, const std::string& name, MsgType type,
               const std::string& payload, std::uint32_t n_vectors = 1, std::uint16_t hidden = 1,
               int bits = 8) {
  std::string bytes;
  bytes += static_cast<char>(n_vectors - 1);
  bytes += static_cast<char>((hidden - 1) & 0xff);
  bytes += static_cast<char>((hidden - 1) >> 8);
  bytes += static_cast<char>(bits == 4 ? 1 : 0);
  write(dir + "/seed-" + name, bytes + encode_frame(type, payload));
}

void side_seeds(const std::string& dir) {
  msg::Hello hello;
  hello.device_id[0] = 7;
  side_seed(dir, "hello", MsgType::kHello, msg::encode_hello(hello));
  side_seed(dir, "challenge", MsgType::kChallenge, msg::encode_challenge({}));
  side_seed(dir, "auth", MsgType::kAuth, msg::encode_auth({}));
  side_seed(dir, "welcome", MsgType::kWelcome, msg::encode_welcome({{}, true}));
  side_seed(dir, "error", MsgType::kError, msg::encode_error({ErrorCode::kBusy, "server busy"}));
  msg::Task task;
  task.n_vectors = 3;
  task.hidden = 5;
  task.candidates = {10, 20};
  task.n_train = 4;
  task.n_dev = 2;
  task.lr = 1e-3f;
  side_seed(dir, "task", MsgType::kTask, msg::encode_task(task));
  side_seed(dir, "task-ok", MsgType::kTaskOk, msg::encode_task_ok({2, false}));
  for (const int bits : {8, 4}) {
    const std::uint32_t n_vectors = 2;
    const std::int64_t hidden = 5;
    const std::size_t vector_bytes = act_vector_bytes(hidden, bits);
    std::string vectors;
    msg::Examples m;
    m.first_index = 3;
    const std::vector<std::int32_t> targets[2] = {{1}, {0, 1}};
    std::size_t total = 0;
    for (const auto& t : targets) total += t.size() * n_vectors * vector_bytes;
    vectors.resize(total);
    std::size_t at = 0;
    for (const auto& t : targets) {
      const std::size_t n = t.size() * n_vectors * vector_bytes;
      for (std::size_t v = 0; v < n; v += vector_bytes) {
        const float x[5] = {0.5f, -1.0f, 0.25f, static_cast<float>(v), -3.0f};
        quantize_vector(x, hidden, bits, reinterpret_cast<std::uint8_t*>(&vectors[at + v]));
      }
      m.examples.push_back({t, std::string_view(vectors).substr(at, n)});
      at += n;
    }
    side_seed(dir, "examples-" + std::to_string(bits), MsgType::kExamples,
              msg::encode_examples(m, n_vectors, vector_bytes), n_vectors, hidden, bits);
  }
  side_seed(dir, "ack", MsgType::kAck, msg::encode_ack({5}));
  side_seed(dir, "progress", MsgType::kProgress,
            msg::encode_progress({3, 10, 1, 0.5f, 0.75f, 0.6f}));
  const std::string chunk = "safetensors bytes";
  side_seed(dir, "result", MsgType::kResult, msg::encode_result({64, 8, chunk}));
  side_seed(dir, "bye", MsgType::kBye, msg::encode_bye());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_seeds journal|side DIR\n");
    return 2;
  }
  const std::string kind = argv[1];
  if (kind == "journal") {
    journal_seeds(argv[2]);
  } else if (kind == "side") {
    side_seeds(argv[2]);
  } else {
    std::fprintf(stderr, "write_seeds: unknown kind '%s'\n", argv[1]);
    return 2;
  }
  return 0;
}
