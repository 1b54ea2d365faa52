// What `pocket eval --side` and `pocket generate --side` share: the side network runner and the
// model checksum its file is checked against.
#pragma once

#include <string>

#include "model/model.h"
#include "side/model_checksum.h"
#include "side/side_runner.h"

namespace pocket {

// The model's checksum (side/model_checksum.h) in hex, or "" when this build has no libcrypto
// (the side network's shape is still checked).
inline std::string side_checksum_hex(const Model& model) {
#if defined(POCKET_HAVE_OPENSSL)
  return digest_hex(side_model_checksum(model));
#else
  (void)model;
  return "";
#endif
}

}  // namespace pocket
