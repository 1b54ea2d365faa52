// libFuzzer target for JSONL task data (src/task/task.cpp over src/io/jsonl.cpp and the shared
// JSON parse helper): `make fuzz` builds it with clang++, ASan and UBSan. Any input, read as a
// classification and as an lm data file, must either load or throw pocket::Error (issue 17: a
// line of a million '[' overflowed the stack, a number outside double range escaped as
// nlohmann's exception). A byte tokenizer stands in for a model's, so no files are needed
// besides the scratch data file (removed after each run).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/error.h"
#include "task/task.h"

namespace {

// One id per byte, plus <s> = 256 and </s> = 257 around a model's input.
class ByteTokenizer : public pocket::Tokenizer {
 public:
  std::vector<std::int32_t> encode(const std::string& text) const override {
    std::vector<std::int32_t> ids;
    for (const unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::vector<std::int32_t> encode_for_model(const std::string& text) const override {
    std::vector<std::int32_t> ids = encode(text);
    ids.insert(ids.begin(), kBos);
    return ids;
  }
  std::string decode(const std::vector<std::int32_t>& ids) const override {
    return std::string(ids.begin(), ids.end());
  }
  std::string decode_next(const std::vector<std::int32_t>&, std::int32_t next) const override {
    return std::string(1, static_cast<char>(next));
  }
  std::int32_t vocab_size() const override { return 258; }
  std::int32_t bos_id() const override { return kBos; }
  std::int32_t eos_id() const override { return kBos + 1; }
  std::int32_t pad_id() const override { return -1; }
  std::int32_t special_id(const std::string&) const override { return -1; }

 private:
  static constexpr std::int32_t kBos = 256;
};

const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/pocket-task-fuzz-" +
           std::to_string(getpid()) + ".jsonl";
  }();
  return path;
}

void load(pocket::TaskKind kind, const std::string& path) {
  static const ByteTokenizer tokenizer;
  pocket::ModelConfig config;
  config.causal = true;
  pocket::TaskOptions options;
  options.kind = kind;
  options.max_len = 64;
  try {
    const pocket::Task task = pocket::make_task(options, tokenizer, config);
    const pocket::Dataset data = pocket::load_dataset(path, task, tokenizer);
    for (const pocket::Example& ex : data.examples) {
      if (ex.ids.empty() || static_cast<std::int64_t>(ex.ids.size()) > options.max_len) {
        __builtin_trap();
      }
    }
  } catch (const pocket::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);
  load(pocket::TaskKind::kClassification, path);
  load(pocket::TaskKind::kLm, path);
  std::remove(path.c_str());  // libFuzzer ends with _Exit: no atexit clean-up
  return 0;
}
