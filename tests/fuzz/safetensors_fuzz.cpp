// libFuzzer target for the safetensors header reader (src/io/safetensors.cpp: the 8-byte length,
// the JSON header through the shared parse helper, dtype/shape/offset checks): `make fuzz` builds
// it with clang++, ASan and UBSan. Any input must either open, with every tensor's bytes inside
// the file, or throw pocket::Error. SafetensorsFile maps a path, so each input is written as a
// file in a scratch directory (removed after each run).
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/error.h"
#include "io/safetensors.h"

namespace {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/pocket-safetensors-fuzz-" +
           std::to_string(getpid());
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (::mkdir(scratch_dir().c_str(), 0700) != 0) std::abort();
  const std::string path = scratch_dir() + "/model.safetensors";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);
  try {
    const pocket::SafetensorsFile file(path);
    for (const pocket::TensorView& t : file.tensors()) {
      // Every tensor's bytes lie inside the mapping; read the last one so ASan sees a stray view.
      if (t.numel() < 0) __builtin_trap();
      if (t.nbytes > 0) {
        volatile std::uint8_t last = t.data[t.nbytes - 1];
        (void)last;
      }
    }
  } catch (const pocket::Error&) {
  }
  std::remove(path.c_str());  // libFuzzer ends with _Exit: no atexit clean-up
  ::rmdir(scratch_dir().c_str());
  return 0;
}
