// Which base model a side network belongs to: the server refuses a device whose backbone differs
// from its own (their hidden states would mean different things), and `eval --side` refuses a side
// network trained for another model.
//   checksum = SHA-256( model_config_json(config) ‖ model_fingerprint(checkpoint) )
// model_fingerprint (io/hash.h) hashes every tensor's name, dtype, shape and bytes, so two
// copies of the same checkpoint agree wherever they live, and any changed weight disagrees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/hash.h"
#include "model/model.h"
#include "side/auth.h"

namespace pocket {

Digest side_model_checksum(const Model& model);
inline std::string digest_hex(const Digest& digest) { return hex_string(digest.data(), digest.size()); }

}  // namespace pocket
