// Autoregressive generation over a Session's KV cache: prefill the prompt, then one token per
// forward, each chosen by a Sampler, until a stop token or the token budget.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"
#include "model/sampler.h"

namespace pocket {

struct GenerateOptions {
  std::int64_t max_new_tokens = 64;
  SamplerOptions sampler;
  std::vector<std::int32_t> stop_ids;  // generation ends after emitting one of these
};

struct GenerateStats {
  std::int64_t prompt_tokens = 0;
  std::int64_t new_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // the forwards after the prefill (new_tokens - 1 of them)
  bool stopped = false;         // a stop token ended it (else the budget or the cache did)
};

// The session must have a KV cache of at least prompt + max_new_tokens positions (batch 1);
// its cache is reset first. The prompt is prefilled in chunks of the session's max_len.
// on_token(id) is called for each new token as soon as it is chosen; returning false stops.
// `logits` is a caller buffer of vocab floats (so that nothing is allocated per token).
GenerateStats generate(Session& session, const std::vector<std::int32_t>& prompt,
                       const GenerateOptions& options, float* logits,
                       const std::function<bool(std::int32_t id)>& on_token);

}  // namespace pocket
