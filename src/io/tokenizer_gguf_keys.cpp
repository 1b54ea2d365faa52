#include "io/tokenizer_gguf_keys.h"

#include <filesystem>
#include <vector>

#include "io/error.h"

#if defined(POCKET_HAVE_SENTENCEPIECE)
#include <sentencepiece_processor.h>
#endif

namespace pocket {

void add_tokenizer_keys(const std::string& dir, const ModelConfig& config, GgufMetadata& out) {
  const std::string path = dir + "/tokenizer.model";
  if (!std::filesystem::exists(path)) {
    throw Error(dir, "no tokenizer.model: only SentencePiece tokenizers can be written to GGUF yet");
  }
#if defined(POCKET_HAVE_SENTENCEPIECE)
  sentencepiece::SentencePieceProcessor sp;
  if (const auto status = sp.Load(path); !status.ok()) {
    throw Error(path, "not a SentencePiece model (" + status.ToString() + ")");
  }
  const int n = sp.GetPieceSize();
  std::vector<std::string> tokens(static_cast<std::size_t>(n));
  std::vector<float> scores(tokens.size());
  std::vector<std::int32_t> types(tokens.size());
  for (int id = 0; id < n; ++id) {
    tokens[id] = sp.IdToPiece(id);
    scores[id] = sp.GetScore(id);
    // llama.cpp's LLAMA_TOKEN_TYPE_*: the order of these tests is the converter's.
    types[id] = sp.IsUnknown(id) ? 2 : sp.IsControl(id) ? 3 : sp.IsUnused(id) ? 5 : sp.IsByte(id) ? 6 : 1;
  }
  out.add_string("tokenizer.ggml.model", "llama");
  out.add_string("tokenizer.ggml.pre", "default");
  out.add_string_array("tokenizer.ggml.tokens", tokens);
  out.add_f32_array("tokenizer.ggml.scores", scores);
  out.add_i32_array("tokenizer.ggml.token_type", types);
  auto id_key = [&](const char* key, std::int32_t id) {
    if (id >= 0 && id < n) out.add_u32(key, static_cast<std::uint32_t>(id));
  };
  id_key("tokenizer.ggml.bos_token_id", config.bos_token_id);
  id_key("tokenizer.ggml.eos_token_id", config.eos_token_id);
  id_key("tokenizer.ggml.unknown_token_id", sp.unk_id());
  id_key("tokenizer.ggml.padding_token_id", config.pad_token_id);
#else
  (void)config;
  (void)out;
  throw Error(path, "pocket was built without sentencepiece (see README.md, Building)");
#endif
}

void copy_tokenizer_keys(const GgufFile& file, GgufMetadata& out) {
  for (const GgufFile::Entry& e : file.metadata()) {
    if (e.key.starts_with("tokenizer.")) out.add_copy(std::string(e.key), e.value);
  }
}

}  // namespace pocket
