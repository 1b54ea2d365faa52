// Shared by the end-to-end benchmarks (bench-forward, bench-step): their flag parsing helpers and
// the cache of random-weight models in build/bench-models/<shape>, so both benchmarks map the
// same files.
#pragma once

#include <string>
#include <vector>

#include "io/model_config.h"

namespace pocket::bench {

// "1,2,4" -> {"1", "2", "4"}
std::vector<std::string> split_commas(const std::string& text);
// An integer >= min (and < 2^20) or pocket::Error naming the flag.
int parse_int(const std::string& flag, const std::string& text, int min);
// "opt-1.3b" -> the OPT config of that shape; "tiny-llama" -> the tiny Llama.
ModelConfig config_for(const std::string& name);
// Creates dir (random weights, seed 0) unless it already holds a model, saying so on stderr as
// `tool`. config.json is written last: a directory without it (an interrupted creation) is made
// again. Returns whether it created the model; *seconds gets the time taken.
bool ensure_model(const std::string& tool, const std::string& dir, const ModelConfig& config,
                  double* seconds);

}  // namespace pocket::bench
