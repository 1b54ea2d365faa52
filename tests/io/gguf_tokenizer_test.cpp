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
                               << ids_text(cases[i].ids) << "], pocket [" << ids_text(ids) << "]");
    }
    // Without special tokens in the text, decoding gives it back.
    CHECK_MESSAGE(tok->decode(ids) == cases[i].text, name << " case " << i);
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
    for (const char* t : {"\xE2\x96\x81", "a", "b",
                          "\xE2\x96\x81"
                          "a",
                          "\xE2\x96\x81"
                          "ab"}) {
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
  // Every case of the three files matches (46 of 46 each), so no case is listed as differing.
  // Where pocket differs from llama.cpp on purpose, outside these texts:
  //   - gpt2: control tokens written in the text ("<|endoftext|>") are cut out and become their
  //     id, as Hugging Face's tokenizer does; llama.cpp's ids here are for parse_special=false,
  //     which tokenizes that text as plain text (none of the texts has one).
  //   - llama: after a user-defined piece in the text, llama.cpp puts the dummy-prefix space
  //     before the text that follows; the sentencepiece library puts it before the first word
  //     only (none of the texts has a user-defined piece).
  TEST_CASE("gguf tokenizer: llama.cpp's gpt-2 vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-gpt-2.gguf", {});
  }

  TEST_CASE("gguf tokenizer: llama.cpp's llama-spm vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-llama-spm.gguf", {});
  }

  TEST_CASE("gguf tokenizer: llama.cpp's phi-3 vocabulary and its test texts") {
    check_vocab_cases("ggml-vocab-phi-3.gguf", {});
  }

  TEST_CASE("gguf tokenizer: GPT-NeoX's vocabulary, without tokens for bytes no UTF-8 has, loads") {
    const std::string dir = llamacpp_vocab_dir();
    if (dir.empty()) {
      MESSAGE("skipped: no ../shared/tokenizers/llamacpp-vocab (beside $POCKET_MODELS)");
      return;
    }
    const std::string path = dir + "/ggml-vocab-gpt-neox.gguf";
    const auto tok = load_tokenizer(path, "");
    CHECK(tok->vocab_size() == 50432);
    CHECK(tok->bos_id() == 0);
    CHECK(tok->eos_id() == 0);
    CHECK(tok->special_id("<|endoftext|>") == 0);
    for (const std::string text :
         {"Hello world", " Hello, World!\n\n  tabs\tand ünïcödé 🦙", "3333 numbers 1.5e10"}) {
      const Ids ids = tok->encode(text);
      CHECK(!ids.empty());
      CHECK(tok->decode(ids) == text);
    }
    // "Hello world" with NeoX's merges.
    CHECK(tok->encode("Hello world") == Ids{12092, 1533});
    // The special token in the text is cut out first, and skipped by decode.
    CHECK(tok->encode("a<|endoftext|>b") == Ids{66, 0, 67});
    CHECK(tok->decode({66, 0, 67}) == "ab");
    // Byte 0xFF has no token: only text that is not UTF-8 has it.
    const std::string msg = error_of([&] { tok->encode("ok \xFF"); });
    CHECK(msg.find("not UTF-8") != std::string::npos);
    CHECK(msg.find("0xFF") != std::string::npos);
  }

  TEST_CASE("gguf tokenizer: stories260K's GGUF tokenizes as its tokenizer.model does") {
    const std::string models = test::models_dir();
    const std::string gguf = models + "/stories260K-gguf/stories260K-F16.gguf";
    const std::string model = models + "/stories260K/tokenizer.model";
    if (models.empty() || !std::filesystem::exists(gguf) || !std::filesystem::exists(model)) {
      MESSAGE("skipped: no stories260K(-gguf) under ../shared/models or $POCKET_MODELS");
      return;
    }
    if (!SentencePieceTokenizer::available()) {
      MESSAGE("skipped: built without sentencepiece");
      return;
    }
    const auto from_gguf = load_tokenizer(gguf, "llama");
    const SentencePieceTokenizer from_model(model);
    CHECK(from_gguf->vocab_size() == from_model.vocab_size());
    CHECK(from_gguf->bos_id() == from_model.bos_id());
    CHECK(from_gguf->eos_id() == from_model.eos_id());
    // tokenizer.model removes extra whitespace (remove_extra_whitespaces, sentencepiece's
    // default); the GGUF file does not say so and llama.cpp keeps it, so the texts here have
    // single spaces between words and none around them.
    for (const std::string text :
         {"Once upon a time, there was a little girl named Lily.",
          "She liked to play outside in the sun. One day, she saw a big dog!",
          "\"Why are you sad?\" asked Tom.", "Zebras: 123, 4567; x-ray. ünï 🦙 z",
          "line one\nline two\n\nthree"}) {
      const Ids ids = from_gguf->encode(text);
      CHECK_MESSAGE(ids == from_model.encode(text), text);
      CHECK(from_gguf->encode_for_model(text) == from_model.encode_for_model(text));
      CHECK(from_gguf->decode(ids) == from_model.decode(ids));
      CHECK(from_gguf->decode(ids) == text);
      std::string streamed;
      Ids previous;
      for (const std::int32_t id : ids) {
        CHECK(from_gguf->decode_next(previous, id) == from_model.decode_next(previous, id));
        streamed += from_gguf->decode_next(previous, id);
        previous.push_back(id);
      }
      CHECK(streamed == text);
    }
    // The whitespace difference, stated.
    CHECK(from_gguf->encode("a  b") != from_model.encode("a  b"));
  }

  TEST_CASE("gguf tokenizer: a crafted gpt2 vocabulary: merges, control and user-defined tokens") {
    TempDir dir;
    const auto tok = load_crafted(dir, Gpt2Keys().metadata());
    CHECK(tok->vocab_size() == 261);
    CHECK(tok->encode(" the") == Ids{258});
    CHECK(tok->encode(" t he") == Ids{256, 32, 257});  // " t", " " (byte 0x20), "he"
    // <|endoftext|> (control) and <tool> (user-defined) are cut out of the text first; decode
    // skips the control one only.
    const Ids ids = tok->encode("<tool> the<|endoftext|>");
    CHECK(ids == Ids{260, 258, 259});
    CHECK(tok->decode(ids) == "<tool> the");
    CHECK(tok->bos_id() == 259);
    CHECK(tok->eos_id() == 259);
    CHECK(tok->pad_id() == -1);
    CHECK(tok->encode_for_model(" the") == Ids{258});  // GPT-2 adds no BOS
    GgufMetadata with_bos = Gpt2Keys().metadata();
    with_bos.add_bool("tokenizer.ggml.add_bos_token", true);
    with_bos.add_bool("tokenizer.ggml.add_eos_token", true);
    CHECK(load_crafted(dir, with_bos)->encode_for_model(" the") == Ids{259, 258, 259});
  }

  TEST_CASE(
      "gguf tokenizer: a crafted llama vocabulary: scores order the merges, bytes fall back") {
    if (!SentencePieceTokenizer::available()) {
      MESSAGE("skipped: built without sentencepiece");
      return;
    }
    TempDir dir;
    const auto tok = load_crafted(dir, LlamaKeys().metadata());
    CHECK(tok->vocab_size() == 264);
    CHECK(tok->bos_id() == 1);
    CHECK(tok->eos_id() == 2);
    CHECK(tok->encode("ab") == Ids{263});             // "▁ab": the dummy prefix, then the merges
    CHECK(tok->encode("a b") == Ids{262, 259, 261});  // "▁a", "▁", "b"
    CHECK(tok->encode("c") == Ids{259, 3 + 'c'});     // no piece "c": its byte
    CHECK(tok->encode_for_model("ab") == Ids{1, 263});
    CHECK(tok->decode({1, 263, 2}) == "ab");
    CHECK(tok->decode(tok->encode("a  b\nc")) == "a  b\nc");  // whitespace kept

    // add_space_prefix false: no "▁" before the text.
    GgufMetadata no_prefix = LlamaKeys().metadata();
    no_prefix.add_bool("tokenizer.ggml.add_space_prefix", false);
    CHECK(load_crafted(dir, no_prefix)->encode("ab") == Ids{260, 261});
  }

  TEST_CASE("gguf tokenizer: broken keys name the file and the key") {
    TempDir dir;
    const std::string path = dir.file("tok.gguf");
    const auto expect = [&](const GgufMetadata& metadata, const std::vector<std::string>& parts) {
      write_metadata(path, metadata);
      const GgufFile file(path);
      const std::string msg = error_of([&] { load_gguf_tokenizer(file); });
      for (const std::string& part : parts) {
        CHECK_MESSAGE(msg.find(part) != std::string::npos, "\"" << part << "\" not in: " << msg);
      }
      CHECK(msg.starts_with(path + ": "));
    };
    const Gpt2Keys gpt2;
    const LlamaKeys llama;

    expect(gpt2.metadata("tokenizer.ggml.model"), {"key 'tokenizer.ggml.model'"});
    GgufMetadata unknown_model = gpt2.metadata("tokenizer.ggml.model");
    unknown_model.add_string("tokenizer.ggml.model", "bert");
    expect(unknown_model, {"key 'tokenizer.ggml.model'", "unknown tokenizer model 'bert'"});

    expect(gpt2.metadata("tokenizer.ggml.tokens"), {"key 'tokenizer.ggml.tokens'"});
    expect(llama.metadata("tokenizer.ggml.tokens"), {"key 'tokenizer.ggml.tokens'"});
    expect(gpt2.metadata("tokenizer.ggml.merges"), {"key 'tokenizer.ggml.merges'"});

    GgufMetadata short_types = gpt2.metadata("tokenizer.ggml.token_type");
    short_types.add_i32_array("tokenizer.ggml.token_type", {1, 1, 1});
    expect(short_types, {"key 'tokenizer.ggml.token_type'", "3 entries for 261 tokens"});
    GgufMetadata bad_type = llama.metadata("tokenizer.ggml.token_type");
    std::vector<std::int32_t> types = llama.types;
    types[5] = 9;
    bad_type.add_i32_array("tokenizer.ggml.token_type", types);
    expect(bad_type, {"key 'tokenizer.ggml.token_type'", "token 5: unknown type 9"});
    GgufMetadata float_types = llama.metadata("tokenizer.ggml.token_type");
    float_types.add_f32_array("tokenizer.ggml.token_type", llama.scores);
    expect(float_types, {"key 'tokenizer.ggml.token_type'"});

    GgufMetadata short_scores = llama.metadata("tokenizer.ggml.scores");
    short_scores.add_f32_array("tokenizer.ggml.scores", {0.0f});
    expect(short_scores, {"key 'tokenizer.ggml.scores'", "1 entries for 264 tokens"});

    GgufMetadata bos_out = gpt2.metadata("tokenizer.ggml.bos_token_id");
    bos_out.add_u32("tokenizer.ggml.bos_token_id", 261);
    expect(bos_out, {"key 'tokenizer.ggml.bos_token_id'", "token id 261 out of range"});
    GgufMetadata eos_out = llama.metadata("tokenizer.ggml.eos_token_id");
    eos_out.add_i32("tokenizer.ggml.eos_token_id", -2);
    expect(eos_out, {"key 'tokenizer.ggml.eos_token_id'", "token id -2 out of range"});
    GgufMetadata unk_out = llama.metadata();
    unk_out.add_u32("tokenizer.ggml.unknown_token_id", 1000);
    expect(unk_out, {"key 'tokenizer.ggml.unknown_token_id'", "out of range"});

    GgufMetadata no_unknown = llama.metadata("tokenizer.ggml.token_type");
    types = llama.types;
    types[0] = 3;
    no_unknown.add_i32_array("tokenizer.ggml.token_type", types);
    expect(no_unknown, {"key 'tokenizer.ggml.token_type'", "no unknown token"});

    GgufMetadata other_pre = gpt2.metadata("tokenizer.ggml.pre");
    other_pre.add_string("tokenizer.ggml.pre", "llama-bpe");
    expect(other_pre, {"tokenizer.ggml.pre 'llama-bpe' is not supported"});

    Gpt2Keys bad_merge;
    bad_merge.merges.push_back("t h e");
    expect(bad_merge.metadata(), {"key 'tokenizer.ggml.merges'[3]", "3 parts"});
    bad_merge.merges.back() = "x qq";
    expect(bad_merge.metadata(),
           {"key 'tokenizer.ggml.merges'[3]", "\"qq\" is not in the vocabulary"});

    Gpt2Keys no_byte;
    no_byte.tokens[0x41] = "A-not";
    expect(no_byte.metadata(), {"key 'tokenizer.ggml.tokens'", "no token for byte 0x41"});

    // Through load_tokenizer, a GGUF without tokenizer keys.
    write_metadata(path, GgufMetadata());
    const std::string msg = error_of([&] { load_tokenizer(path, "llama"); });
    CHECK(msg.find("key 'tokenizer.ggml.model'") != std::string::npos);
  }
}
