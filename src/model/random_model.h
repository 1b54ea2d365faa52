// Models with random weights and the real published shapes, made offline (`pocket init`): the
// tests, benchmarks and the demo never download anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"

namespace pocket {

// The shapes `pocket init --shape` knows, by name: "tiny" (any family; a few MB), "opt-125m",
// "opt-350m", "opt-1.3b", "roberta-large", "tinyllama-1.1b". Throws pocket::Error for an unknown
// shape or one that does not belong to `arch` (e.g. roberta-large with --arch llama).
ModelConfig shape_config(Arch arch, const std::string& shape);
std::vector<std::string> shape_names();

// Writes `dir`/model.safetensors for `config`: matrices ~ N(0, std²) (std 0.02, as HF
// initialises), norm weights 1, biases 0, all F16. Element i of tensor `name` is a pure function
// of (seed, name, i) (the Irwin-Hall sum of four 16-bit uniforms of one mix64 word, scaled to
// unit variance), so the file is the same bits for any thread count. Atomic (temp, fsync, rename).
void write_random_weights(const ModelConfig& config, std::uint64_t seed, const std::string& dir,
                          float std = 0.02f);

}  // namespace pocket
