#include "io/tokenizer_gguf_keys.h"

#include <filesystem>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/error.h"

#if defined(POCKET_HAVE_SENTENCEPIECE)
#include <sentencepiece_processor.h>
#endif

namespace pocket {

namespace {

// The special ids of the model's config, where they name a token of the tokenizer.
void add_special_ids(const ModelConfig& config, std::int32_t unknown, std::size_t n_tokens,
                     GgufMetadata& out) {
  auto id_key = [&](const char* key, std::int32_t id) {
    if (id >= 0 && static_cast<std::size_t>(id) < n_tokens) {
      out.add_u32(key, static_cast<std::uint32_t>(id));
    }
  };
  id_key("tokenizer.ggml.bos_token_id", config.bos_token_id);
  id_key("tokenizer.ggml.eos_token_id", config.eos_token_id);
  id_key("tokenizer.ggml.unknown_token_id", unknown);
  id_key("tokenizer.ggml.padding_token_id", config.pad_token_id);
}

// Byte-level BPE (vocab.json + merges.txt or tokenizer.json) as llama.cpp's "gpt2" model: the
// tokens in GPT-2's byte-level spelling, the merges by rank, added tokens typed control
// (special: skipped by decode) or user-defined, and whether encode_for_model puts BOS/EOS
// around the text (OPT: </s> first; RoBERTa: <s> ... </s>).
void add_bpe_keys(const std::string& dir, const ModelConfig& config, GgufMetadata& out) {
  const auto tokenizer = BpeTokenizer::load(dir, config.model_type);
  const BpeTokenizer::Vocab v = tokenizer->vocab();
  std::vector<std::int32_t> types(v.tokens.size(), 1);
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    if (v.tokens[id] == "[PAD" + std::to_string(id) + "]") types[id] = 5;  // unused
  }
  for (const BpeTokenizer::AddedToken& a : v.added) types[a.id] = a.special ? 3 : 4;
  out.add_string("tokenizer.ggml.model", "gpt2");
  out.add_string("tokenizer.ggml.pre", "gpt-2");
  out.add_string_array("tokenizer.ggml.tokens", v.tokens);
  out.add_i32_array("tokenizer.ggml.token_type", types);
  out.add_string_array("tokenizer.ggml.merges", v.merges);
  add_special_ids(config, tokenizer->special_id("<unk>"), v.tokens.size(), out);
  out.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  out.add_bool("tokenizer.ggml.add_eos_token", v.add_eos);
}

}  // namespace

void add_tokenizer_keys(const std::string& dir, const ModelConfig& config, GgufMetadata& out) {
  namespace fs = std::filesystem;
  const std::string path = dir + "/tokenizer.model";
  if (!fs::exists(path)) {
    if (fs::exists(dir + "/tokenizer.json") || fs::exists(dir + "/vocab.json")) {
      add_bpe_keys(dir, config, out);
      return;
    }
    throw Error(dir, "no tokenizer (tokenizer.model, tokenizer.json or vocab.json + merges.txt) "
                     "to write into the GGUF file");
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
  add_special_ids(config, sp.unk_id(), tokens.size(), out);
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
