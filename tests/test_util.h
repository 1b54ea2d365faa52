// Helpers shared by the unit tests: deterministic random inputs, the shared test-vector folder,
// and error measures that say how far a fast kernel is from its reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdlib.h>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "io/error.h"
#include "kernels/fp16.h"

namespace pocket::test {

// ../shared/testvectors, or $POCKET_TESTVECTORS; "" when absent (tests then skip with a message).
inline std::string testvectors_dir() {
  if (const char* env = std::getenv("POCKET_TESTVECTORS")) return env;
  for (const char* cand : {"../shared/testvectors", "../../shared/testvectors"}) {
    if (std::filesystem::is_directory(cand)) return cand;
  }
  return "";
}

// The message of the pocket::Error that f() throws; "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ../shared/models (real pretrained models), or $POCKET_MODELS; "" when absent: the tests on real
// models then skip with a message.
inline std::string models_dir() {
  if (const char* env = std::getenv("POCKET_MODELS")) return env;
  for (const char* cand : {"../shared/models", "../../shared/models"}) {
    if (std::filesystem::is_directory(cand)) return cand;
  }
  return "";
}

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<fp16> random_f16(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::vector<fp16> v(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (auto& h : v) h = f32_to_f16_scalar(dist(rng));
  return v;
}

// max_i |a_i - b_i| / max(max_i |b_i|, tiny): error relative to the scale of the reference.
inline double max_rel_error(const float* a, const float* b, std::size_t n) {
  double scale = 1e-30, err = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return err / scale;
}

// Sizes that hit every edge of a blocked kernel: 1, odd, one below/at/above powers of two.
inline const std::vector<int>& edge_sizes() {
  static const std::vector<int> sizes = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129};
  return sizes;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when it goes out of
// scope.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/pocket-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // The names of the entries in it (e.g. to check that no temporary file was left behind).
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      out.insert(entry.path().filename().string());
    }
    return out;
  }

 private:
  std::string path_;
};

}  // namespace pocket::test
