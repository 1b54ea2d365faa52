// pocket generate: text continuation with a KV cache, streamed to stdout as tokens arrive;
// speed and memory on stderr.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/side_flag.h"
#include "cli/commands.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "model/generate.h"
#include "model/lora_adapter.h"
#include "model/model.h"

namespace pocket {
namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  std::string dir, prompt, side, adapter;
  std::int64_t n = 64, top_k = 40, seed = 0, threads = 0, chunk = 512;
  double temp = 0.8, top_p = 0.95;
  bool ignore_eos = false, show_ids = false;
  Args args("pocket generate MODEL --prompt \"...\" [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]",
            "Continues the prompt with a causal model (OPT, Llama family), streaming the text to\n"
            "stdout as it is generated; prompt and decode speed (tokens/s) and peak memory go to\n"
            "stderr. --temp 0 is greedy decoding. The same seed gives the same text.");
  args.positional("MODEL", &dir, "a Hugging Face model directory (F16 safetensors) or a GGUF file");
  args.option("--prompt", &prompt, "text to continue");
  args.option("-n", &n, "tokens to generate at most");
  args.option("--temp", &temp, "sampling temperature (0: greedy)");
  args.option("--top-k", &top_k, "sample among the k most likely tokens (0: all)");
  args.option("--top-p", &top_p, "then among the smallest set holding this probability");
  args.option("--seed", &seed, "seed of the sampling stream");
  args.flag("--ignore-eos", &ignore_eos, "keep going past the end-of-sequence token");
  args.flag("--ids", &show_ids, "also print the generated token ids on stderr");
  args.option("--chunk", &chunk, "prompt tokens per prefill forward");
  args.option("--side", &side, "a side network from `pocket side-tune` (RUN/side.safetensors) "
                               "run alongside the model");
  args.option("--adapter", &adapter, "a PEFT LoRA adapter directory (adapter_config.json, "
                                     "adapter_model.safetensors) applied without merging");
  args.option("--threads", &threads, "threads (0: every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  if (!args.given("--prompt")) throw Error("--prompt", "missing");
  if (n < 1) throw Error("-n", "must be >= 1");
  if (chunk < 1) throw Error("--chunk", "must be >= 1");
  if (seed < 0) throw Error("--seed", "must be >= 0");
  apply_threads(threads);

  Model model(dir);
  if (!adapter.empty()) load_lora_adapter(model, adapter);
  const ModelConfig& c = model.config();
  if (!c.causal) {
    throw Error(dir, std::string(arch_name(c.arch)) + " is not a causal language model: use "
                     "pocket forward (its MLM head) instead");
  }
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(dir, c.model_type);
  const std::vector<std::int32_t> ids = tokenizer->encode_for_model(prompt);
  if (ids.empty()) throw Error("--prompt", "no tokens");
  const std::int64_t P = static_cast<std::int64_t>(ids.size());
  if (n > c.max_positions - P) {  // not P + n: -n may be near INT64_MAX
    throw Error("generate", std::to_string(P) + " prompt tokens + " + std::to_string(n) +
                                " new ones exceed max_position_embeddings " +
                                std::to_string(c.max_positions));
  }

  GenerateOptions options;
  options.max_new_tokens = n;
  options.sampler.temperature = static_cast<float>(temp);
  options.sampler.top_k = top_k;
  options.sampler.top_p = static_cast<float>(top_p);
  options.sampler.seed = static_cast<std::uint64_t>(seed);
  if (!ignore_eos && c.eos_token_id >= 0) options.stop_ids.push_back(c.eos_token_id);

  Session session(model, {1, std::min(P, chunk), 1, P + n});
  std::unique_ptr<SideRunner> side_runner;
  if (!side.empty()) {
    side_runner = std::make_unique<SideRunner>(
        load_side_for_model(side, model, side_checksum_hex(model)), std::min(P, chunk));
    session.set_observer(side_runner.get());
  }
  std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));
  std::vector<std::int32_t> out;
  out.reserve(static_cast<std::size_t>(n));
  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  const GenerateStats stats = generate(session, ids, options, logits.data(), [&](std::int32_t id) {
    if (id != c.eos_token_id) {
      std::fputs(tokenizer->decode_next(out, id).c_str(), stdout);
      std::fflush(stdout);
    }
    out.push_back(id);
    return true;
  });
  std::fputs("\n", stdout);
  std::fflush(stdout);
  if (show_ids) {
    std::fprintf(stderr, "ids:");
    for (std::int32_t id : out) std::fprintf(stderr, " %d", id);
    std::fprintf(stderr, "\n");
  }
  const double decode_tps = stats.new_tokens > 1 && stats.decode_seconds > 0
                                ? static_cast<double>(stats.new_tokens - 1) / stats.decode_seconds
                                : 0.0;
  std::fprintf(stderr,
               "generate: prompt %lld tokens in %.3f s (%.1f tokens/s), %lld new tokens (%.1f "
               "tokens/s)%s; peak RSS %.0f MiB (weights %.0f MiB mapped, KV cache %.1f MiB)\n",
               static_cast<long long>(stats.prompt_tokens), stats.prefill_seconds,
               static_cast<double>(stats.prompt_tokens) / std::max(stats.prefill_seconds, 1e-9),
               static_cast<long long>(stats.new_tokens), decode_tps,
               stats.stopped ? ", stopped at end of sequence" : "", peak_rss_mib(),
               static_cast<double>(model.weight_file_bytes()) / (1 << 20),
               static_cast<double>(session.kv_cache_bytes()) / (1 << 20));
  return 0;
}

}  // namespace pocket
