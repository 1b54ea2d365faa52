// libFuzzer target for the GGUF reader (src/io/gguf.cpp): `make fuzz` builds it with clang++,
// ASan and UBSan and runs it for FUZZ_SECONDS. Any input must either open or throw pocket::Error;
// what opens must only point inside the file. The reader takes a path (it maps the file), so each
// input is written to a scratch file first (removed after each run).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/error.h"
#include "io/gguf.h"

namespace {

const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/pocket-gguf-fuzz-" +
           std::to_string(getpid()) + ".gguf";
  }();
  return path;
}

// Traps unless [begin, begin + size) lies inside the mapping.
void check_inside(const pocket::GgufFile& file, const void* begin, std::size_t size) {
  const auto* first = static_cast<const std::uint8_t*>(begin);
  const std::uint8_t* base = file.mapping().data();
  if (size == 0) return;
  if (first < base || first + size > base + file.mapping().size()) __builtin_trap();
}

void check_value(const pocket::GgufFile& file, const pocket::GgufValue& value) {
  using pocket::GgufType;
  if (value.type() == GgufType::kString) {
    check_inside(file, value.string().data(), value.string().size());
  } else if (value.type() == GgufType::kArray) {
    for (std::uint64_t i = 0; i < value.size(); ++i) {
      if (value.element_type() == GgufType::kString) {
        check_inside(file, value.string_element(i).data(), value.string_element(i).size());
      } else if (value.element_type() == GgufType::kArray) {
        check_value(file, value.array_element(i));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);
  try {
    const pocket::GgufFile file(path);
    for (const auto& entry : file.metadata()) {
      check_inside(file, entry.key.data(), entry.key.size());
      check_value(file, entry.value);
    }
    for (const pocket::GgufTensor& tensor : file.tensors()) {
      check_inside(file, tensor.data, tensor.nbytes);
      if (tensor.offset % file.alignment() != 0) __builtin_trap();
    }
  } catch (const pocket::Error&) {
  }
  std::remove(path.c_str());  // libFuzzer ends with _Exit: no atexit clean-up
  return 0;
}
