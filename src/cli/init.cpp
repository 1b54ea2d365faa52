// pocket init: a complete Hugging Face-style model directory with random weights and a real
// published shape — config.json, model.safetensors (F16) and tokenizer files — made offline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/model_config.h"
#include "io/tokenizer_files.h"
#include "model/model_weights.h"
#include "model/random_model.h"

namespace pocket {
namespace {

Arch parse_arch(const std::string& name) {
  if (name == "opt") return Arch::kOpt;
  if (name == "roberta") return Arch::kRoberta;
  if (name == "llama") return Arch::kLlama;
  throw Error("--arch", "'" + name + "' is not one of opt, roberta, llama");
}

// Tokenizer files copied from another model directory (e.g. a real GPT-2/OPT vocabulary).
void copy_tokenizer(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const char* names[] = {"tokenizer.json",       "vocab.json",
                         "merges.txt",           "tokenizer.model",
                         "tokenizer_config.json", "special_tokens_map.json"};
  int copied = 0;
  for (const char* name : names) {
    const fs::path src = fs::path(from) / name;
    if (!fs::is_regular_file(src)) continue;
    std::FILE* f = std::fopen(src.c_str(), "rb");
    if (f == nullptr) throw Error(src.string(), "cannot open");
    std::string bytes;
    char buf[1 << 16];
    std::size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, got);
    std::fclose(f);
    write_file_atomic((fs::path(to) / name).string(), bytes);
    ++copied;
  }
  if (copied == 0) throw Error(from, "no tokenizer files (tokenizer.json, vocab.json + merges.txt, tokenizer.model)");
}

}  // namespace

int cmd_init(int argc, char** argv) {
  std::string arch_text, shape = "tiny", tokenizer_from, out_dir;
  std::int64_t seed = 0, threads = 0;
  double std_dev = 0.02;
  Args args("pocket init --arch opt|roberta|llama [--shape SHAPE] [--seed S] OUT_DIR",
            "Writes a complete Hugging Face-style model directory with random weights (std 0.02 or --std,\n"
            "norms 1, biases 0, F16) in a real published shape, for tests, benchmarks and demos:\n"
            "config.json, model.safetensors and tokenizer files (a byte-level BPE for opt/roberta,\n"
            "a SentencePiece model for llama, trained here on a built-in text). Nothing is downloaded.\n"
            "Shapes: tiny (any arch), opt-125m, opt-350m, opt-1.3b, roberta-large, tinyllama-1.1b.");
  args.positional("OUT_DIR", &out_dir, "directory to create (must not hold a model already)");
  args.option("--arch", &arch_text, "model family: opt, roberta or llama");
  args.option("--shape", &shape, "published shape to copy");
  args.option("--seed", &seed, "seed of the random weights (same seed, same bits)");
  args.option("--std", &std_dev, "standard deviation of the random matrices (HF's init: 0.02)");
  args.option("--tokenizer", &tokenizer_from, "copy tokenizer files from this directory instead");
  args.option("--threads", &threads, "threads (0: every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  if (!args.given("--arch")) throw Error("--arch", "missing (opt, roberta or llama)");
  if (seed < 0) throw Error("--seed", "must be >= 0");
  if (!(std_dev > 0 && std_dev <= 10)) throw Error("--std", "must be in (0, 10]");
  apply_threads(threads);
  const Arch arch = parse_arch(arch_text);
  const ModelConfig config = shape_config(arch, shape);

  namespace fs = std::filesystem;
  if (fs::exists(fs::path(out_dir) / "config.json")) {
    throw Error(out_dir, "already holds a model (config.json); choose another directory");
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir, "cannot create directory: " + ec.message());

  const auto t0 = std::chrono::steady_clock::now();
  const double gib = static_cast<double>(config.n_params()) * 2.0 / (1 << 30);
  std::fprintf(stderr, "init: %s %s, %.1f M parameters, %.2f GiB of F16 weights -> %s\n",
               arch_name(arch), shape.c_str(), static_cast<double>(config.n_params()) / 1e6, gib,
               out_dir.c_str());
  write_random_weights(config, static_cast<std::uint64_t>(seed), out_dir, static_cast<float>(std_dev));
  if (!tokenizer_from.empty()) {
    copy_tokenizer(tokenizer_from, out_dir);
  } else if (arch == Arch::kLlama) {
    write_sentencepiece_tokenizer_file(out_dir, std::min<std::int64_t>(config.vocab_size, 512));
  } else {
    write_bpe_tokenizer_files(out_dir, config.model_type, config.vocab_size);
  }
  // config.json last: a directory with a config.json is a complete model.
  write_file_atomic(out_dir + "/config.json", model_config_json(config));
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "init: done in %.1f s\n", s);
  return 0;
}

}  // namespace pocket
