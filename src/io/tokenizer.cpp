#include "io/tokenizer.h"

#include <filesystem>

#include "io/bpe_tokenizer.h"
#include "io/error.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer.h"
#include "io/sentencepiece_tokenizer.h"

namespace pocket {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir, const std::string& model_type) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(dir)) return load_gguf_tokenizer(GgufFile(dir));
  if (!fs::is_directory(dir)) throw Error(dir, "not a directory or a GGUF file");
  const auto has = [&](const char* name) { return fs::exists(fs::path(dir) / name); };
  if (has("tokenizer.model")) {
    return std::make_unique<SentencePieceTokenizer>((fs::path(dir) / "tokenizer.model").string());
  }
  if (has("tokenizer.json") || has("vocab.json")) return BpeTokenizer::load(dir, model_type);
  throw Error(dir,
              "no tokenizer files (tokenizer.model, tokenizer.json, or vocab.json + merges.txt)");
}

}  // namespace pocket
