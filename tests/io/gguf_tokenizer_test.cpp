// The tokenizer of a GGUF file (gguf_tokenizer.h): llama.cpp's own vocabulary files and the ids
// llama.cpp gives for their test texts, a GGUF's SentencePiece tokenizer against the
// tokenizer.model it was converted from, and crafted files for every error.
#include "io/gguf_tokenizer.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/error.h"
#include "io/gguf_writer.h"
#include "io/sentencepiece_tokenizer.h"
#include "io/tokenizer.h"
#include "io/utf8.h"
#include "test_util.h"

using namespace pocket;
using Ids = std::vector<std::int32_t>;
using test::TempDir;

namespace {

// ../shared/tokenizers/llamacpp-vocab, beside ../shared/models; "" when absent.
std::string llamacpp_vocab_dir() {
  const std::string models = test::models_dir();
  if (models.empty()) return "";
  const auto dir = std::filesystem::path(models).parent_path() / "tokenizers" / "llamacpp-vocab";
  return std::filesystem::is_directory(dir) ? dir.string() : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot open " << path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

struct Case {
  std::string text;
  Ids ids;
};

// llama.cpp's test-tokenizer-0 files: <vocab>.inp holds the texts, each followed by the line
// "__ggml_vocab_test__"; line i of <vocab>.out holds the ids of text i, space-separated.
std::vector<Case> read_cases(const std::string& vocab_path) {
  const std::string inp = read_file(vocab_path + ".inp");
  const std::string out = read_file(vocab_path + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (std::size_t pos = 0; pos < inp.size();) {
    std::size_t end = inp.find(separator, pos);
    REQUIRE(end != std::string::npos);
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + separator.size();
  }
  std::istringstream lines(out);
  std::size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    REQUIRE(i < cases.size());
    std::istringstream numbers(line);
    for (std::int32_t id; numbers >> id;) cases[i].ids.push_back(id);
  }
  REQUIRE(i == cases.size());
  return cases;
}

std::string ids_text(const Ids& ids) {
  std::string s;
  for (const std::int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

// Encodes every case of `name`; the cases in `differ` (index -> why) must differ from
// llama.cpp's ids, all others must match. Returns false when skipped.
bool check_vocab_cases(const std::string& name, const std::map<std::size_t, std::string>& differ) {
  const std::string dir = llamacpp_vocab_dir();
  if (dir.empty()) {
    MESSAGE("skipped: no ../shared/tokenizers/llamacpp-vocab (beside $POCKET_MODELS)");
    return false;
  }
  const std::string path = dir + "/" + name;
  const bool spm = name != "ggml-vocab-gpt-2.gguf";
  if (spm && !SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece");
    return false;
  }
  const auto tok = load_tokenizer(path, "");
  const std::vector<Case> cases = read_cases(path);
  std::size_t matched = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Ids ids = tok->encode(cases[i].text);
    const bool same = ids == cases[i].ids;
    matched += same;
    if (const auto it = differ.find(i); it != differ.end()) {
      CHECK_MESSAGE(!same, name << " case " << i << " was listed as differing, but matches");
      MESSAGE(name << " case " << i << " differs (" << it->second << "): llama.cpp ["
                   << ids_text(cases[i].ids) << "], pocket [" << ids_text(ids) << "]");
    } else {
      CHECK_MESSAGE(same, name << " case " << i << " \"" << cases[i].text << "\": llama.cpp ["
                               << ids_text(cases[i].ids) << "], pocket [" << ids_text(ids)
                               << "]");
    }
    // Without special tokens in the text, decoding gives it back.
    if (!spm) CHECK(tok->decode(ids) == cases[i].text);
  }
  MESSAGE(name << ": " << matched << " of " << cases.size() << " cases match llama.cpp exactly");
  return true;
}

// The one-line message of the pocket::Error that f() throws.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK_MESSAGE(what.find('\n') == std::string::npos, "not one line: " << what);
    return what;
  }
  FAIL("no pocket::Error thrown");
  return "";
}

void write_metadata(const std::string& path, const GgufMetadata& metadata) {
  write_gguf(path, metadata, {}, [](std::size_t, std::uint8_t*, std::size_t) {});
}

std::string byte_token(int b) {
  std::string s;
  utf8::append_code_point(s, BpeTokenizer::byte_to_code_point()[b]);
  return s;
}

// A small byte-level BPE vocabulary: the 256 bytes, "Ġt", "he", "Ġthe", then <|endoftext|>
// (control) and "<tool>" (user-defined).
struct Gpt2Keys {
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  std::vector<std::string> merges = {"Ġ t", "h e", "Ġt he"};
  Gpt2Keys() {
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_token(b));
    for (const char* t : {"Ġt", "he", "Ġthe", "<|endoftext|>", "<tool>"}) tokens.push_back(t);
    types.assign(tokens.size(), 1);
    types[259] = 3;
    types[260] = 4;
  }
  // All keys but `skip`.
  GgufMetadata metadata(const std::string& skip = "") const {
    GgufMetadata m;
    const auto want = [&](const char* key) { return skip != key; };
    if (want("tokenizer.ggml.model")) m.add_string("tokenizer.ggml.model", "gpt2");
    if (want("tokenizer.ggml.pre")) m.add_string("tokenizer.ggml.pre", "gpt-2");
    if (want("tokenizer.ggml.tokens")) m.add_string_array("tokenizer.ggml.tokens", tokens);
    if (want("tokenizer.ggml.token_type")) m.add_i32_array("tokenizer.ggml.token_type", types);
    if (want("tokenizer.ggml.merges")) m.add_string_array("tokenizer.ggml.merges", merges);
    if (want("tokenizer.ggml.bos_token_id")) m.add_u32("tokenizer.ggml.bos_token_id", 259);
    if (want("tokenizer.ggml.eos_token_id")) m.add_u32("tokenizer.ggml.eos_token_id", 259);
    return m;
  }
};

// A small SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte pieces, then a few pieces.
struct LlamaKeys {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores;
  std::vector<std::int32_t> types = {2, 3, 3};
  LlamaKeys() {
    char hex[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      tokens.push_back(hex);
      types.push_back(6);
    }
    // "▁", "a", "b", "▁a", "▁ab": the higher the score, the earlier the merge.
    for (const char* t : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "\xE2\x96\x81" "ab"}) {
      tokens.push_back(t);
      types.push_back(1);
    }
    scores.assign(tokens.size(), 0.0f);
    scores[262] = -1.0f;
    scores[263] = -2.0f;
  }
  GgufMetadata metadata(const std::string& skip = "") const {
    GgufMetadata m;
    const auto want = [&](const char* key) { return skip != key; };
    if (want("tokenizer.ggml.model")) m.add_string("tokenizer.ggml.model", "llama");
    if (want("tokenizer.ggml.tokens")) m.add_string_array("tokenizer.ggml.tokens", tokens);
    if (want("tokenizer.ggml.scores")) m.add_f32_array("tokenizer.ggml.scores", scores);
    if (want("tokenizer.ggml.token_type")) m.add_i32_array("tokenizer.ggml.token_type", types);
    if (want("tokenizer.ggml.bos_token_id")) m.add_u32("tokenizer.ggml.bos_token_id", 1);
    if (want("tokenizer.ggml.eos_token_id")) m.add_u32("tokenizer.ggml.eos_token_id", 2);
    return m;
  }
};

std::unique_ptr<Tokenizer> load_crafted(const TempDir& dir, const GgufMetadata& metadata) {
  const std::string path = dir.file("tok.gguf");
  write_metadata(path, metadata);
  return load_gguf_tokenizer(GgufFile(path));
}

}  // namespace

TEST_SUITE("gguf_tokenizer") {
  TEST_CASE("gguf tokenizer: llama.cpp's gpt-2 vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-gpt-2.gguf", {});
  }

  TEST_CASE("gguf tokenizer: llama.cpp's llama-spm vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-llama-spm.gguf", {});
  }

  TEST_CASE("gguf tokenizer: llama.cpp's phi-3 vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-phi-3.gguf", {});
  }
}
