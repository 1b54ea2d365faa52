#include "side/model_checksum.h"

#include "io/model_config.h"
#include "io/hash.h"

namespace pocket {

Digest side_model_checksum(const Model& model) {
  const std::string text = model_config_json(model.config()) + model.fingerprint();
  return sha256(text.data(), text.size());
}

}  // namespace pocket
