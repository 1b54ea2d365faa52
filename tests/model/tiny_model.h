// A tiny random model of one family written to a directory (config.json + weights), for the model
// tests that need a checkpoint on disk.
#pragma once

#include <string>

#include "io/atomic_file.h"
#include "model/random_model.h"

namespace pocket::test {

inline void make_tiny(Arch arch, const std::string& dir) {
  const ModelConfig c = shape_config(arch, "tiny");
  write_random_weights(c, 7, dir, 0.2f);
  write_file_atomic(dir + "/config.json", model_config_json(c));
}

}  // namespace pocket::test
