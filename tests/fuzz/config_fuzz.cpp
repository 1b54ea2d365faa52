// libFuzzer target for config.json -> ModelConfig (src/io/model_config.cpp and the shared JSON
// parse helper): `make fuzz` builds it with clang++, ASan and UBSan. Any input must either load
// or throw pocket::Error (issue 17: nlohmann's own exceptions escaped, and a size that was a huge
// double reached get<std::int64_t>()). load_model_config() takes a directory, so each input is
// written as config.json in a scratch directory (removed after each run).
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/error.h"
#include "io/model_config.h"

namespace {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/pocket-config-fuzz-" +
           std::to_string(getpid());
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (::mkdir(scratch_dir().c_str(), 0700) != 0) std::abort();
  const std::string path = scratch_dir() + "/config.json";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);
  try {
    const pocket::ModelConfig config = pocket::load_model_config(scratch_dir());
    if (config.hidden < 1 || config.vocab_size < 1 || config.n_layers < 1) __builtin_trap();
  } catch (const pocket::Error&) {
  }
  std::remove(path.c_str());  // libFuzzer ends with _Exit: no atexit clean-up
  ::rmdir(scratch_dir().c_str());
  return 0;
}
