#include "side/model_checksum.h"

#include "io/model_config.h"
#include "zo/run_dir.h"

namespace pocket {

Digest side_model_checksum(const Model& model) {
  const std::string text = model_config_json(model.config()) + model_fingerprint(model.checkpoint());
  return sha256(text.data(), text.size());
}

std::string digest_hex(const Digest& digest) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : digest) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

}  // namespace pocket
