#include "side/model_checksum.h"

#include "io/model_config.h"
#include "zo/run_dir.h"

namespace pocket {

Digest side_model_checksum(const Model& model) {
  const std::string text = model_config_json(model.config()) + model_fingerprint(model.checkpoint());
  return sha256(text.data(), text.size());
}

std::string hex_string(const std::uint8_t* bytes, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 15];
  }
  return s;
}

}  // namespace pocket
