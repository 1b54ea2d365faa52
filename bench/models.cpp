#include "models.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bench_util.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "model/random_model.h"

namespace pocket::bench {

namespace fs = std::filesystem;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = text.find(',', begin);
    parts.push_back(text.substr(begin, end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return parts;
}

int parse_int(const std::string& flag, const std::string& text, int min) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > (1 << 20)) {
    throw Error(flag, "'" + text + "' is not an integer >= " + std::to_string(min));
  }
  return static_cast<int>(v);
}

ModelConfig config_for(const std::string& name) {
  auto arch_of = [&](const std::string& family) {
    if (family.rfind("opt", 0) == 0) return Arch::kOpt;
    if (family.rfind("roberta", 0) == 0) return Arch::kRoberta;
    if (family.find("llama") != std::string::npos) return Arch::kLlama;
    throw Error("--shapes", "unknown shape '" + name + "' (see --help)");
  };
  if (name.rfind("tiny-", 0) == 0) return shape_config(arch_of(name.substr(5)), "tiny");
  return shape_config(arch_of(name), name);
}

bool ensure_model(const std::string& tool, const std::string& dir, const ModelConfig& config,
                  double* seconds) {
  *seconds = 0.0;
  if (fs::exists(fs::path(dir) / "config.json")) return false;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir, "cannot create directory: " + ec.message());
  std::fprintf(stderr, "%s: creating %s (%.2f GB of random F16 weights)...\n", tool.c_str(),
               dir.c_str(), static_cast<double>(config.n_params()) * 2.0 / 1e9);
  const double t0 = now_seconds();
  write_random_weights(config, 0, dir);
  write_file_atomic(dir + "/config.json", model_config_json(config));
  *seconds = now_seconds() - t0;
  std::fprintf(stderr, "%s: created %s in %.1f s\n", tool.c_str(), dir.c_str(), *seconds);
  return true;
}

}  // namespace pocket::bench
