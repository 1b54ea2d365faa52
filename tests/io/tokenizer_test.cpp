// Tokenizers: byte-level BPE (GPT-2 / OPT / RoBERTa) against the real GPT-2 files and
// llama.cpp's expected ids, SentencePiece against ids from the library's Python binding, the
// round trips and streaming decode, special tokens, broken files, and the tokenizers that
// `pocket init` makes.
#include "io/tokenizer.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_config.h"
#include "io/sentencepiece_tokenizer.h"
#include "io/tokenizer_files.h"
#include "io/tokenizer_gguf_keys.h"
#include "io/utf8.h"
#include "test_util.h"

using namespace pocket;
using Ids = std::vector<std::int32_t>;

namespace {

std::string tokenizers_dir() {
  const std::string dir = test::testvectors_dir();
  return dir.empty() ? "" : dir + "/tokenizers";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot open " << path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out);
}

struct Case {
  std::string text;
  Ids ids;
};

std::vector<Case> read_cases(const std::string& path) {
  std::vector<Case> cases;
  std::istringstream lines(read_file(path));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j["text"].get<std::string>(), j["ids"].get<Ids>()});
  }
  return cases;
}

using test::TempDir;

// The text streamed token by token through decode_next.
std::string stream(const Tokenizer& tok, const Ids& ids) {
  std::string out;
  Ids previous;
  for (const std::int32_t id : ids) {
    out += tok.decode_next(previous, id);
    previous.push_back(id);
  }
  return out;
}

// check(line) for every line of `text`.
template <typename Check>
void for_each_line(const std::string& text, Check check) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) check(line);
}

// The 256 byte tokens in GPT-2's order, as a vocab.json object, plus `extra` tokens after them.
nlohmann::json byte_vocab(const std::vector<std::string>& extra) {
  nlohmann::json vocab = nlohmann::json::object();
  std::vector<char32_t> cps(BpeTokenizer::byte_to_code_point().begin(),
                            BpeTokenizer::byte_to_code_point().end());
  std::sort(cps.begin(), cps.end());
  int id = 0;
  for (const char32_t cp : cps) {
    std::string s;
    utf8::append_code_point(s, cp);
    vocab[s] = id++;
  }
  for (const auto& s : extra) vocab[s] = id++;
  return vocab;
}

// A small valid vocab.json + merges.txt in `dir`: "Ġt", "he", "Ġthe" and the specials.
void write_small_bpe(const TempDir& dir) {
  write_file(dir.file("vocab.json"),
             byte_vocab({"Ġt", "he", "Ġthe", "<s>", "</s>", "<pad>", "<mask>"}).dump());
  write_file(dir.file("merges.txt"), "#version: 0.2\nĠ t\nh e\nĠt he\n");
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

std::unique_ptr<BpeTokenizer> gpt2_or_skip() {
  const std::string dir = tokenizers_dir();
  if (dir.empty()) {
    MESSAGE("skipped: no test vectors (../shared/testvectors or $POCKET_TESTVECTORS)");
    return nullptr;
  }
  return BpeTokenizer::from_vocab_merges(dir + "/gpt2/vocab.json", dir + "/gpt2/merges.txt",
                                         "gpt2");
}

std::unique_ptr<Tokenizer> sentencepiece_or_skip(const char* model) {
  const std::string dir = tokenizers_dir();
  if (dir.empty()) {
    MESSAGE("skipped: no test vectors (../shared/testvectors or $POCKET_TESTVECTORS)");
    return nullptr;
  }
  if (!SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece");
    return nullptr;
  }
  return std::make_unique<SentencePieceTokenizer>(dir + "/" + model);
}

}  // namespace

TEST_SUITE("tokenizer") {
  // ---------------------------------------------------------------------------------------------
  // Byte-level BPE

  TEST_CASE("bpe: GPT-2's byte table maps the 256 bytes to distinct printable code points") {
    const auto& table = BpeTokenizer::byte_to_code_point();
    CHECK(table[' '] == U'Ġ');
    CHECK(table['\n'] == U'Ċ');
    CHECK(table['a'] == U'a');
    CHECK(table[0] == 256);
    CHECK(table[0xAD] == 323);  // soft hyphen, the last byte moved
    std::vector<char32_t> sorted(table.begin(), table.end());
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  }

  TEST_CASE("bpe: the pre-tokenizer splits as GPT-2's regex does") {
    const auto split = [](const std::string& text) {
      std::vector<std::string> pieces;
      for (const auto& [b, e] : BpeTokenizer::pre_tokenize(text))
        pieces.push_back(text.substr(b, e - b));
      return pieces;
    };
    using V = std::vector<std::string>;
    CHECK(split("Hello world") == V{"Hello", " world"});
    CHECK(split("I've 'told he's") == V{"I", "'ve", " '", "told", " he", "'s"});
    CHECK(split("'RE") == V{"'", "RE"});  // contractions are lowercase only
    CHECK(split("a  b") == V{"a", " ", " b"});
    CHECK(split("a \n\n b") == V{"a", " \n\n", " b"});
    CHECK(split("x   ") == V{"x", "   "});
    CHECK(split("3.14 x1") == V{"3", ".", "14", " x", "1"});
    CHECK(split(" !!?? ok") == V{" !!??", " ok"});
    CHECK(split("Führer 東京") == V{"Führer", " 東京"});
    CHECK(split("٣٤ x") == V{"٣٤", " x"});              // Arabic-Indic digits are \p{N}
    CHECK(split("a\u00A0b") == V{"a", "\u00A0", "b"});  // NBSP is \s
    CHECK(split("") == V{});
    CHECK(split("\xFF\xFEx") == V{"\xFF\xFE", "x"});  // malformed UTF-8 is "other"
  }

  TEST_CASE("bpe: GPT-2 vocabulary reproduces every line of gpt2-expected.jsonl") {
    const auto tok = gpt2_or_skip();
    if (!tok) return;
    CHECK(tok->vocab_size() == 50257);
    CHECK(tok->bos_id() == 50256);
    CHECK(tok->eos_id() == 50256);
    CHECK(tok->pad_id() == -1);
    const auto cases = read_cases(tokenizers_dir() + "/gpt2-expected.jsonl");
    REQUIRE(cases.size() >= 30);
    for (const Case& c : cases) {
      CAPTURE(c.text);
      CHECK(tok->encode(c.text) == c.ids);
      CHECK(tok->decode(c.ids) == c.text);
      CHECK(stream(*tok, c.ids) == c.text);
    }
  }

  TEST_CASE("bpe: GPT-2's vocabulary written as tokenizer.ggml.* keys and read back reproduces "
            "gpt2-expected.jsonl and botchan.txt") {
    const auto tok = gpt2_or_skip();
    if (!tok) return;
    // What `pocket quantize` does with a byte-level BPE directory (tokenizer_gguf_keys.h).
    ModelConfig config;
    config.model_type = "gpt2";
    config.bos_token_id = config.eos_token_id = 50256;
    GgufMetadata meta;
    add_tokenizer_keys(tokenizers_dir() + "/gpt2", config, meta);
    test::TempDir tmp;
    const std::string path = tmp.file("gpt2.gguf");
    write_gguf(path, meta, {}, [](std::size_t, std::uint8_t*, std::size_t) {});
    const GgufFile file(path);
    CHECK(file.get_array("tokenizer.ggml.tokens", GgufType::kString).size() == 50257);
    CHECK(file.get_array("tokenizer.ggml.merges", GgufType::kString).size() == 50000);
    const auto back = load_tokenizer(path, "");
    CHECK(back->bos_id() == 50256);
    for (const Case& c : read_cases(tokenizers_dir() + "/gpt2-expected.jsonl")) {
      CAPTURE(c.text);
      CHECK(back->encode(c.text) == c.ids);
      CHECK(back->decode(c.ids) == c.text);
    }
    const std::string text = read_file(tokenizers_dir() + "/botchan.txt");
    const Ids ids = tok->encode(text);
    CHECK(back->encode(text) == ids);
    CHECK(back->decode(ids) == text);
  }

  TEST_CASE(
      "bpe: decode(encode(x)) == x on botchan.txt, whole and line by line, in well under 1 s") {
    const auto tok = gpt2_or_skip();
    if (!tok) return;
    const std::string text = read_file(tokenizers_dir() + "/botchan.txt");
    // A fresh tokenizer (empty piece cache) so the time is that of a first encoding.
    const auto fresh = BpeTokenizer::from_vocab_merges(
        tokenizers_dir() + "/gpt2/vocab.json", tokenizers_dir() + "/gpt2/merges.txt", "gpt2");
    const auto t0 = std::chrono::steady_clock::now();
    const Ids ids = fresh->encode(text);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("encoding botchan.txt (" << text.size() << " bytes -> " << ids.size()
                                     << " tokens) took " << seconds * 1e3 << " ms");
    CHECK(seconds < 1.0);
    CHECK(ids.size() > text.size() / 6);
    CHECK(fresh->decode(ids) == text);
    CHECK(stream(*fresh, ids) == text);
    for_each_line(text, [&](const std::string& line) {
      CAPTURE(line);
      REQUIRE(tok->decode(tok->encode(line)) == line);
    });
  }

  TEST_CASE("bpe: decode_next holds back a character split across tokens") {
    const auto tok = gpt2_or_skip();
    if (!tok) return;
    // "🦙" is 4 bytes in 3 tokens: [12520 (F0 9F), 99 (A6), 247 (99)] after " this is".
    const Ids ids = tok->encode(" this is 🦙.cpp");
    REQUIRE(ids == Ids{428, 318, 12520, 99, 247, 13, 20322});
    CHECK(tok->decode_next({428, 318}, 12520) == " ");  // 12520 is " " F0 9F
    CHECK(tok->decode_next({428, 318, 12520}, 99) == "");
    CHECK(tok->decode_next({428, 318, 12520, 99}, 247) == "🦙");
    CHECK(tok->decode_next({428, 318, 12520, 99, 247}, 13) == ".");
    // The end-of-text token adds nothing, and does not release or swallow held bytes.
    CHECK(tok->decode_next({428, 318, 12520}, 50256) == "");
    CHECK(tok->decode_next({428, 318, 12520, 50256, 99}, 247) == "🦙");
    // Ids beyond the vocabulary (a model's padded rows) decode to nothing.
    CHECK(tok->decode({15496, 50260, -1}) == "Hello");
  }

  TEST_CASE("bpe: special tokens in the text are matched before pre-tokenization") {
    const auto tok = gpt2_or_skip();
    if (!tok) return;
    CHECK(tok->special_id("<|endoftext|>") == 50256);
    CHECK(tok->special_id("<mask>") == -1);
    const Ids ids = tok->encode("Hello<|endoftext|> world");
    CHECK(ids == Ids{15496, 50256, 995});
    CHECK(tok->decode(ids) == "Hello world");  // specials are skipped
    // Not a special token when broken: plain text.
    CHECK(tok->encode("<|endoftext|")[0] != 50256);
    CHECK(tok->encode_for_model("Hello world") == Ids{15496, 995});  // GPT-2 adds nothing
  }

  TEST_CASE(
      "bpe: tokenizer.json (merges as strings or pairs, added tokens) == vocab.json + merges.txt") {
    TempDir dir;
    write_small_bpe(dir);
    const auto from_files =
        BpeTokenizer::from_vocab_merges(dir.file("vocab.json"), dir.file("merges.txt"), "roberta");
    const nlohmann::json vocab = nlohmann::json::parse(read_file(dir.file("vocab.json")));
    for (const bool pairs : {false, true}) {
      CAPTURE(pairs);
      using nlohmann::json;
      const json merges = pairs ? json::array({json::array({"Ġ", "t"}), json::array({"h", "e"}),
                                               json::array({"Ġt", "he"})})
                                : json::array({"Ġ t", "h e", "Ġt he"});
      nlohmann::json j = {
          {"version", "1.0"},
          {"added_tokens",
           {{{"id", vocab["<s>"]}, {"content", "<s>"}, {"special", true}},
            {{"id", vocab["<mask>"]}, {"content", "<mask>"}, {"lstrip", true}, {"special", true}}}},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
      write_file(dir.file("tokenizer.json"), j.dump());
      const auto from_json = BpeTokenizer::from_tokenizer_json(dir.file("tokenizer.json"), "roberta");
      for (const std::string text : {"the theme", " the <mask> then", "<s>the</s>", "ünï the 3"}) {
        CAPTURE(text);
        CHECK(from_json->encode(text) == from_files->encode(text));
        CHECK(from_json->encode_for_model(text) == from_files->encode_for_model(text));
      }
      // load() prefers tokenizer.json.
      CHECK(BpeTokenizer::load(dir.path(), "roberta")->encode(" the") == from_json->encode(" the"));
    }
    const std::int32_t the = vocab["Ġthe"], mask = vocab["<mask>"];
    CHECK(from_files->encode(" the") == Ids{the});
    CHECK(from_files->encode(" the <mask>") == Ids{the, mask});  // <mask> swallows the space
  }

  TEST_CASE("bpe: side files name the special tokens and their options") {
    TempDir dir;
    write_small_bpe(dir);
    const nlohmann::json vocab = nlohmann::json::parse(read_file(dir.file("vocab.json")));
    write_file(dir.file("special_tokens_map.json"),
               R"({"bos_token": "<s>", "eos_token": {"content": "</s>", "rstrip": true},
                 "pad_token": "<pad>", "additional_special_tokens": ["<extra>"]})");
    write_file(dir.file("added_tokens.json"), R"({"<extra>": 400})");
    const auto tok = BpeTokenizer::load(dir.path(), "gpt2");
    CHECK(tok->bos_id() == vocab["<s>"].get<int>());
    CHECK(tok->eos_id() == vocab["</s>"].get<int>());
    CHECK(tok->pad_id() == vocab["<pad>"].get<int>());
    CHECK(tok->special_id("<extra>") == 400);
    CHECK(tok->vocab_size() == 401);
    const std::int32_t the = vocab["Ġthe"], eos = vocab["</s>"];
    const Ids want = {400, eos, vocab["t"].get<std::int32_t>(), vocab["he"].get<std::int32_t>()};
    CHECK(tok->encode("<extra></s>  the") == want);  // </s> swallows the spaces after it
    CHECK(tok->encode(" the</s>") == Ids{the, eos});
    CHECK(tok->decode({400, the, eos}) == " the");
  }

  // ---------------------------------------------------------------------------------------------
  // Broken BPE files: one-line errors that name the file (and line).

  // Issue 17: std::stoi read the key "12abc" as id 12.
  TEST_CASE("bpe: added_tokens_decoder keys that are not whole decimal ids") {
    TempDir dir;
    write_small_bpe(dir);
    const auto load = [&] { BpeTokenizer::load(dir.path(), "gpt2"); };
    const std::string path = dir.file("tokenizer_config.json");
    for (const char* key : {"12abc", " 7", "-3", "+4", "", "99999999999"}) {
      CAPTURE(key);
      write_file(path, nlohmann::json{{"added_tokens_decoder",
                                       {{key, {{"content", "<extra>"}, {"special", true}}}}}}
                           .dump());
      CHECK(error_of(load) == path + ": added_tokens_decoder." + key +
                                  ": the key is not an id (a decimal integer in [0, 2^31))");
    }
    write_file(path, R"({"added_tokens_decoder": {"400": {"content": "<extra>", "special": true}}})");
    CHECK(BpeTokenizer::load(dir.path(), "gpt2")->special_id("<extra>") == 400);
  }

  TEST_CASE("bpe: vocab.json that is not JSON") {
    TempDir dir;
    write_small_bpe(dir);
    write_file(dir.file("vocab.json"), R"({"a": 1, "b": )");
    const std::string msg = error_of([&] { load_tokenizer(dir.path(), "gpt2"); });
    CHECK(msg.find(dir.file("vocab.json")) == 0);
    CHECK(msg.find("invalid JSON") != std::string::npos);
  }

  TEST_CASE("bpe: vocab.json that is not an object, with non-integer or duplicate ids") {
    TempDir dir;
    write_small_bpe(dir);
    const auto load = [&] { BpeTokenizer::load(dir.path(), "gpt2"); };
    write_file(dir.file("vocab.json"), R"(["a", "b"])");
    CHECK(error_of(load) == dir.file("vocab.json") + ": expected a JSON object of token -> id");
    write_file(dir.file("vocab.json"), R"({"a": 0, "b": "1"})");
    CHECK(error_of(load) == dir.file("vocab.json") + ": token \"b\": id \"1\" is not an integer");
    write_file(dir.file("vocab.json"), R"({"a": 0, "b": 0})");
    CHECK(error_of(load) == dir.file("vocab.json") + ": tokens \"a\" and \"b\" have the same id 0");
    write_file(dir.file("vocab.json"), R"({"a": 0, "b": 1})");
    CHECK(error_of(load).find(dir.file("vocab.json") + ": no token for byte 0x00") == 0);
  }

  TEST_CASE("bpe: a merge line with three parts") {
    TempDir dir;
    write_small_bpe(dir);
    write_file(dir.file("merges.txt"), "#version: 0.2\nĠ t\nh e x\nĠt he\n");
    CHECK(error_of([&] { load_tokenizer(dir.path(), "gpt2"); }) ==
          dir.file("merges.txt") +
              ":3: expected two tokens separated by one space, got 3 parts: \"h e x\"");
  }

  TEST_CASE("bpe: a merge of a token that is not in the vocabulary") {
    TempDir dir;
    write_small_bpe(dir);
    write_file(dir.file("merges.txt"), "Ġ t\nhe llo\n");  // no "#version" line: line 2 is the 2nd merge
    CHECK(error_of([&] { load_tokenizer(dir.path(), "gpt2"); }) ==
          dir.file("merges.txt") + ":2: \"llo\" is not in the vocabulary");
  }

  TEST_CASE("bpe: vocab.json and merges.txt of different tokenizers (merged token missing)") {
    TempDir dir;
    write_small_bpe(dir);
    write_file(dir.file("merges.txt"), "#version: 0.2\nĠ t\nh e\nĠt h\n");
    CHECK(error_of([&] { load_tokenizer(dir.path(), "gpt2"); }) ==
          dir.file("merges.txt") + ":4: the merged token \"Ġth\" is not in the vocabulary");
  }

  TEST_CASE("bpe: a broken merge in tokenizer.json names its index") {
    TempDir dir;
    nlohmann::json j = {
        {"pre_tokenizer", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"}, {"vocab", byte_vocab({"he"})}, {"merges", {"h e", {"x", "y", "z"}}}}}};
    write_file(dir.file("tokenizer.json"), j.dump());
    CHECK(error_of([&] { load_tokenizer(dir.path(), "gpt2"); }) ==
          dir.file("tokenizer.json") +
              ": model.merges[1]: expected \"left right\" or [left, right], "
              "got [\"x\",\"y\",\"z\"]");
    j["pre_tokenizer"] = {{"type", "Metaspace"}};
    write_file(dir.file("tokenizer.json"), j.dump());
    CHECK(error_of([&] { load_tokenizer(dir.path(), "gpt2"); }).find("not GPT-2's ByteLevel") !=
          std::string::npos);
  }

  TEST_CASE("tokenizer: a directory without tokenizer files, or with half of them") {
    TempDir dir;
    CHECK(error_of([&] { load_tokenizer(dir.path(), "opt"); }) ==
          dir.path() +
              ": no tokenizer files (tokenizer.model, tokenizer.json, or vocab.json + merges.txt)");
    write_file(dir.file("vocab.json"), "{}");
    CHECK(error_of([&] { load_tokenizer(dir.path(), "opt"); }) ==
          dir.path() + ": vocab.json without merges.txt");
    CHECK(error_of([&] { load_tokenizer(dir.file("nowhere"), "opt"); }) ==
          dir.file("nowhere") + ": not a directory or a GGUF file");
    write_file(dir.file("tokenizer.model"), "not a model");
    const std::string msg = error_of([&] { load_tokenizer(dir.path(), "llama"); });
    CHECK(msg.find(dir.file("tokenizer.model")) == 0);
  }

  // ---------------------------------------------------------------------------------------------
  // SentencePiece

  TEST_CASE("sentencepiece: llama2 tokenizer reproduces every line of llama2-expected.jsonl") {
    const auto tok = sentencepiece_or_skip("llama2-tokenizer.model");
    if (!tok) return;
    CHECK(tok->vocab_size() == 32000);
    CHECK(tok->bos_id() == 1);
    CHECK(tok->eos_id() == 2);
    CHECK(tok->pad_id() == -1);
    CHECK(tok->special_id("<s>") == 1);
    CHECK(tok->special_id("</s>") == 2);
    CHECK(tok->special_id("<unk>") == 0);
    CHECK(tok->special_id("hello") == -1);
    const auto cases = read_cases(tokenizers_dir() + "/llama2-expected.jsonl");
    REQUIRE(cases.size() >= 300);
    for (const Case& c : cases) {
      CAPTURE(c.text);
      CHECK(tok->encode(c.text) == c.ids);
      const std::string decoded = tok->decode(c.ids);
      CHECK(stream(*tok, c.ids) == decoded);
      CHECK(decoded == c.text);  // identity normalization and byte fallback: exact
    }
  }

  TEST_CASE("sentencepiece: sp-test model reproduces every line of sp-test-expected.jsonl") {
    const auto tok = sentencepiece_or_skip("sp-test-model.model");
    if (!tok) return;
    CHECK(tok->vocab_size() == 1000);
    const auto cases = read_cases(tokenizers_dir() + "/sp-test-expected.jsonl");
    REQUIRE(cases.size() >= 300);
    for (const Case& c : cases) {
      CAPTURE(c.text);
      CHECK(tok->encode(c.text) == c.ids);
      // This model normalizes (NFKC, whitespace collapsed) and has no byte fallback, so decoding
      // is not the identity; streaming must still agree with decode.
      CHECK(stream(*tok, c.ids) == tok->decode(c.ids));
    }
  }

  TEST_CASE("sentencepiece: llama2 decode(encode(x)) == x on botchan.txt; streaming == decode") {
    const auto tok = sentencepiece_or_skip("llama2-tokenizer.model");
    if (!tok) return;
    const std::string text = read_file(tokenizers_dir() + "/botchan.txt");
    const auto t0 = std::chrono::steady_clock::now();
    const Ids ids = tok->encode(text);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("sentencepiece (llama2) encoding botchan.txt: " << ids.size() << " tokens, "
                                                            << seconds * 1e3 << " ms");
    CHECK(tok->decode(ids) == text);
    CHECK(stream(*tok, ids) == text);
    for_each_line(text, [&](const std::string& line) {
      CAPTURE(line);
      REQUIRE(tok->decode(tok->encode(line)) == line);
    });
    // Leading spaces, a first byte piece, control tokens first: the places where the library's
    // decoder treats the first piece specially.
    for (const std::string s : {" x", "  x", "\n x", "x", "ü", "🙂 y", " 🙂"}) {
      CAPTURE(s);
      for (const Ids& prefix : {Ids{}, Ids{1}, Ids{1, 2, 1}}) {
        Ids all = prefix;
        const Ids body = tok->encode(s);
        all.insert(all.end(), body.begin(), body.end());
        CHECK(stream(*tok, all) == tok->decode(all));
        CHECK(tok->decode(all) == s);
      }
    }
  }

  TEST_CASE("sentencepiece: encode_for_model puts <s> first; decode skips control tokens") {
    const auto tok = sentencepiece_or_skip("llama2-tokenizer.model");
    if (!tok) return;
    const Ids body = tok->encode("Hello world! It was great.");
    CHECK(body == Ids{15043, 3186, 29991, 739, 471, 2107, 29889});
    Ids with_bos = {1};
    with_bos.insert(with_bos.end(), body.begin(), body.end());
    CHECK(tok->encode_for_model("Hello world! It was great.") == with_bos);
    Ids with_eos = with_bos;
    with_eos.push_back(2);
    CHECK(tok->decode(with_eos) == "Hello world! It was great.");
    CHECK(tok->decode({15043, 40000, -3}) == "Hello");  // unknown ids decode to nothing
    CHECK(tok->decode_next({15043}, 40000) == "");
  }

  // ---------------------------------------------------------------------------------------------
  // Tokenizers made by `pocket init`

  TEST_CASE("init: byte-level BPE files for opt, roberta, gpt2 load and round-trip") {
    const std::string texts[] = {
        "The tokenizer is the first step and the last one.",
        "Zeroth-order tuning on a phone: 12 May 2024, $4.99!",
        "  unusual   spacing\tand\nnew lines  ",
        "ünïcödé — “quotes” 東京 🙂 <s> and </s> inside",
    };
    for (const std::string model_type : {"opt", "roberta", "gpt2"}) {
      CAPTURE(model_type);
      TempDir dir;
      const std::int64_t vocab_limit = 50272;
      write_bpe_tokenizer_files(dir.path(), model_type, vocab_limit);
      for (const char* f :
           {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
        CHECK(std::filesystem::exists(dir.file(f)));
      }
      const auto tok = load_tokenizer(dir.path(), model_type);
      CHECK(tok->vocab_size() <= vocab_limit);
      CHECK(tok->vocab_size() > 256 + 200);  // a few hundred merges were learned
      for (const std::string& text : texts) {
        CAPTURE(text);
        const Ids ids = tok->encode(text);
        for (const std::int32_t id : ids) CHECK((id >= 0 && id < vocab_limit));
        if (text.find("<s>") == std::string::npos) {
          CHECK(tok->decode(ids) == text);
          CHECK(stream(*tok, ids) == text);
        }
      }
      const Ids body = tok->encode("the model");
      CHECK(body.size() <= 3);  // common words merged
      if (model_type == "opt") {
        CHECK(tok->special_id("<s>") == 0);
        CHECK(tok->pad_id() == 1);
        CHECK(tok->bos_id() == 2);
        CHECK(tok->eos_id() == 2);
        CHECK(tok->special_id("<unk>") == 3);
        Ids want = {2};
        want.insert(want.end(), body.begin(), body.end());
        CHECK(tok->encode_for_model("the model") == want);
      } else if (model_type == "roberta") {
        CHECK(tok->bos_id() == 0);
        CHECK(tok->pad_id() == 1);
        CHECK(tok->eos_id() == 2);
        CHECK(tok->special_id("<mask>") == tok->vocab_size() - 1);
        Ids want = {0};
        want.insert(want.end(), body.begin(), body.end());
        want.push_back(2);
        CHECK(tok->encode_for_model("the model") == want);
        const std::int32_t mask = tok->special_id("<mask>");
        CHECK(tok->encode("the <mask>") == Ids{tok->encode("the")[0], mask});
        CHECK(tok->decode(tok->encode("a <s>b</s>")) == "a b");
      } else {
        CHECK(tok->bos_id() == tok->vocab_size() - 1);
        CHECK(tok->special_id("<|endoftext|>") == tok->vocab_size() - 1);
        CHECK(tok->encode_for_model("the model") == body);
      }
    }
  }

  TEST_CASE("init: BPE files fit a small vocabulary, and say when it is too small") {
    TempDir dir;
    write_bpe_tokenizer_files(dir.path(), "roberta", 300);
    const auto tok = load_tokenizer(dir.path(), "roberta");
    CHECK(tok->vocab_size() == 300);
    CHECK(tok->special_id("<mask>") == 299);
    CHECK(tok->decode(tok->encode("small but whole")) == "small but whole");
    CHECK(error_of([&] { write_bpe_tokenizer_files(dir.path(), "opt", 100); }) ==
          dir.path() +
              ": vocab_size 100 is too small for a byte-level BPE tokenizer (it needs at "
              "least 260 ids)");
    CHECK(error_of([&] {
            write_bpe_tokenizer_files(dir.path(), "llama", 1000);
          }).find("llama: no byte-level BPE") == 0);
  }

  TEST_CASE("init: SentencePiece tokenizer.model loads, round-trips, fits the vocabulary") {
    TempDir dir;
    if (!SentencePieceTokenizer::available()) {
      CHECK(error_of([&] {
              write_sentencepiece_tokenizer_file(dir.path(), 32000);
            }).find("built without sentencepiece") != std::string::npos);
      MESSAGE("skipped: built without sentencepiece");
      return;
    }
    write_sentencepiece_tokenizer_file(dir.path(), 32000);
    CHECK(std::filesystem::exists(dir.file("tokenizer_config.json")));
    const auto tok = load_tokenizer(dir.path(), "llama");
    CHECK(tok->vocab_size() == 512);
    CHECK(tok->special_id("<unk>") == 0);
    CHECK(tok->bos_id() == 1);
    CHECK(tok->eos_id() == 2);
    for (const std::string text :
         {"The tokenizer is the first step and the last one.",
          "Numbers like 1234 and ünïcödé 東京 🙂 fall back to bytes",
          "  two spaces first, a tab\there"}) {
      CAPTURE(text);
      const Ids ids = tok->encode(text);
      for (const std::int32_t id : ids) CHECK((id >= 0 && id < 512));
      CHECK(tok->decode(ids) == text);
      CHECK(stream(*tok, ids) == text);
      CHECK(tok->encode_for_model(text).front() == 1);
    }
    CHECK(tok->encode("the model").size() <= 3);

    TempDir small;
    write_sentencepiece_tokenizer_file(small.path(), 400);
    CHECK(load_tokenizer(small.path(), "llama")->vocab_size() == 400);
    CHECK(error_of([&] {
            write_sentencepiece_tokenizer_file(small.path(), 300);
          }).find("is too small") != std::string::npos);
  }

}  // TEST_SUITE("tokenizer")

// Resource limits (issue 17): a tokenizer file is read whole, so one larger than any published
// tokenizer (256 MiB) is refused from its size before a byte is read, and a FIFO (which would block
// the read forever) is refused as not a regular file.
TEST_CASE("tokenizer: a huge or non-regular tokenizer file is a one-line error naming it") {
  test::TempDir tmp;
  const std::string json = tmp.file("tokenizer.json");
  {
    std::ofstream out(json);  // sparse: no disk is used for the hole
  }
  std::filesystem::resize_file(json, (std::uintmax_t{256} << 20) + 1);
  CHECK_THROWS_WITH_AS(load_tokenizer(tmp.path(), "opt"),
                       (json + ": 268435457 bytes, more than the 256 MiB a tokenizer file may "
                               "hold").c_str(),
                       Error);
  std::filesystem::remove(json);
  REQUIRE(::mkfifo(json.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(load_tokenizer(tmp.path(), "opt"), (json + ": not a regular file").c_str(),
                       Error);
}
