#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include "io/error.h"

namespace pocket {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GenerateStats generate(Session& session, const std::vector<std::int32_t>& prompt,
                       const GenerateOptions& options, float* logits,
                       const std::function<bool(std::int32_t id)>& on_token) {
  const ModelConfig& c = session.model().config();
  if (prompt.empty()) throw Error("generate", "empty prompt (nothing to continue)");
  const std::int64_t need = static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens;
  if (need > session.limits().kv_cache_len) {
    throw Error("generate", "prompt + new tokens = " + std::to_string(need) +
                                " positions, the KV cache holds " +
                                std::to_string(session.limits().kv_cache_len));
  }
  Sampler sampler(c.vocab_size, options.sampler);
  GenerateStats stats;
  stats.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  session.reset_cache();

  auto t0 = std::chrono::steady_clock::now();
  const std::int64_t chunk = session.limits().max_len;
  for (std::int64_t i = 0; i < stats.prompt_tokens; i += chunk) {
    const std::int64_t len = std::min(chunk, stats.prompt_tokens - i);
    session.forward_cached(prompt.data() + i, 1, len, logits);
  }
  stats.prefill_seconds = seconds_since(t0);

  // Step 0 samples from the prefill's logits; every later step first feeds the previous token.
  t0 = std::chrono::steady_clock::now();
  std::int32_t token = -1;
  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    if (step > 0) session.forward_cached(&token, 1, 1, logits);
    token = sampler.sample(logits, static_cast<std::uint64_t>(step));
    ++stats.new_tokens;
    const bool stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), token) !=
                      options.stop_ids.end();
    if (!on_token(token) || stop) {
      stats.stopped = stop;
      break;
    }
  }
  stats.decode_seconds = seconds_since(t0);
  return stats;
}

}  // namespace pocket
