#include "io/bpe_tokenizer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>

#include "io/error.h"
#include "io/json_parse.h"
#include "io/unicode_tables.h"
#include "io/utf8.h"

namespace pocket {
namespace {

using nlohmann::json;

// The largest tokenizer file read: published ones are at most tens of MiB (tokenizer.json of a
// 256 k vocabulary is ~35 MiB), so a larger one is refused before it is read into memory.
constexpr std::uintmax_t kMaxTokenizerFileBytes = std::uintmax_t{256} << 20;

std::string read_text_file(const std::string& path) {
  // A FIFO or device would block or never end: only regular files, and only of a sane size.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status)) {
    if (!std::filesystem::is_regular_file(status)) throw Error(path, "not a regular file");
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxTokenizerFileBytes) {
      throw Error(path, std::to_string(size) +
                            " bytes, more than the 256 MiB a tokenizer file may hold");
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw Error(path, "read failed");
  return buf.str();
}

json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::unordered_map<std::string, std::int32_t> read_vocab(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where, "expected a JSON object of token -> id");
  std::unordered_map<std::string, std::int32_t> vocab;
  std::unordered_map<std::int32_t, std::string> owner;
  vocab.reserve(j.size());
  owner.reserve(j.size());
  for (const auto& [token, value] : j.items()) {
    const auto checked = json_int_in(value, 0, std::numeric_limits<std::int32_t>::max() - 1);
    if (!checked) {
      throw Error(where, "token " + in_quotes(token) + ": id " + value.dump() +
                             (value.is_number_integer() ? " out of range" : " is not an integer"));
    }
    const std::int64_t id = *checked;
    const auto [it, fresh] = owner.emplace(static_cast<std::int32_t>(id), token);
    if (!fresh) {
      throw Error(where, "tokens " + in_quotes(it->second) + " and " + in_quotes(token) +
                             " have the same id " + std::to_string(id));
    }
    vocab.emplace(token, static_cast<std::int32_t>(id));
  }
  return vocab;
}

// Code point -> byte, the inverse of bytes_to_unicode (its code points are all below 0x144).
const std::array<int, 0x144>& code_point_to_byte() {
  static const std::array<int, 0x144> table = [] {
    std::array<int, 0x144> t;
    t.fill(-1);
    const auto& forward = BpeTokenizer::byte_to_code_point();
    for (int b = 0; b < 256; ++b) t[forward[b]] = b;
    return t;
  }();
  return table;
}

// The bytes a vocabulary token stands for. A code point outside the byte table (a token that is
// not byte-level, such as "<s>" written with printable ASCII, maps to itself anyway) is kept as
// its UTF-8.
std::string token_bytes(std::string_view token) {
  const auto& to_byte = code_point_to_byte();
  std::string out;
  std::size_t pos = 0;
  while (pos < token.size()) {
    const std::size_t start = pos;
    const char32_t cp = utf8::next_code_point(token, pos);
    if (cp < to_byte.size() && to_byte[cp] >= 0) {
      out += static_cast<char>(to_byte[cp]);
    } else {
      out.append(token.substr(start, pos - start));
    }
  }
  return out;
}

std::string byte_token(int byte) {
  std::string s;
  utf8::append_code_point(s, BpeTokenizer::byte_to_code_point()[byte]);
  return s;
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// The classes GPT-2's regex tells apart.
enum class CharClass : std::uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return CharClass::kSpace;
    return CharClass::kOther;
  }
  if (unicode::is_letter(cp)) return CharClass::kLetter;
  if (unicode::is_number(cp)) return CharClass::kNumber;
  if (unicode::is_whitespace(cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

// The token of a side file's special-token field: "<s>" or {"content": "<s>", "lstrip": ...}.
bool parse_added_token(const json& value, const std::string& where, BpeTokenizer::AddedToken& out) {
  if (value.is_null()) return false;
  if (value.is_string()) {
    out.content = value.get<std::string>();
    return true;
  }
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    out.content = value["content"].get<std::string>();
    out.lstrip = value.value("lstrip", out.lstrip);
    out.rstrip = value.value("rstrip", out.rstrip);
    out.special = value.value("special", out.special);
    return true;
  }
  throw Error(where, "expected a token string or an object with \"content\", got " + value.dump());
}

}  // namespace

const std::array<char32_t, 256>& BpeTokenizer::byte_to_code_point() {
  // GPT-2's bytes_to_unicode: the printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
  // for themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) are moved to 256+n in
  // byte order, so that every token of vocab.json is printable text.
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

// ---------------------------------------------------------------------------------------------
// Loading

void BpeTokenizer::set_vocab(std::unordered_map<std::string, std::int32_t> vocab,
                             const std::string& where) {
  vocab_ = std::move(vocab);
  missing_bytes_ = false;
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(byte_token(b));
    // No UTF-8 text has the bytes C0, C1 (overlong starts) and F5..FF (past U+10FFFF); some
    // vocabularies (GPT-NeoX's) leave their tokens out.
    const bool never_in_utf8 = b == 0xC0 || b == 0xC1 || b >= 0xF5;
    if (it == vocab_.end() && never_in_utf8) {
      byte_id_[b] = -1;
      missing_bytes_ = true;
      continue;
    }
    if (it == vocab_.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      throw Error(where, std::string("no token for byte ") + hex + " (" + in_quotes(byte_token(b)) +
                             "): a byte-level BPE vocabulary has all 256");
    }
    byte_id_[b] = it->second;
  }

  std::int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) max_id = std::max(max_id, id);
  bytes_.assign(static_cast<std::size_t>(max_id) + 1, std::string());
  for (const auto& [token, id] : vocab_) bytes_[id] = token_bytes(token);
  skip_in_decode_.assign(bytes_.size(), false);
}

void BpeTokenizer::add_merge(const std::string& where, const std::string& left,
                             const std::string& right) {
  const auto find = [&](const std::string& token, const char* what) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      throw Error(where, std::string(what) + in_quotes(token) + " is not in the vocabulary");
    }
    return it->second;
  };
  const std::int32_t l = find(left, "");
  const std::int32_t r = find(right, "");
  const std::int32_t result = find(left + right, "the merged token ");
  const auto key = (static_cast<std::uint64_t>(l) << 32) | static_cast<std::uint32_t>(r);
  // A pair listed twice keeps its first (lowest) rank, as Hugging Face does.
  merges_.emplace(key, Merge{static_cast<std::int32_t>(merges_.size()), result});
}

void BpeTokenizer::add_merge_line(const std::string& where, std::string_view line) {
  const auto n_parts = std::count(line.begin(), line.end(), ' ') + 1;
  if (n_parts != 2) {
    throw Error(where, "expected two tokens separated by one space, got " +
                           std::to_string(n_parts) + " parts: " + in_quotes(line));
  }
  const std::size_t space = line.find(' ');
  add_merge(where, std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::parse_vocab_merges(const std::string& vocab_path,
                                                               const std::string& merges_path) {
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  tok->set_vocab(read_vocab(read_json_file(vocab_path), vocab_path), vocab_path);

  const std::string text = read_text_file(merges_path);
  std::size_t line_start = 0;
  for (int line_no = 1; line_start < text.size(); ++line_no) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    std::string_view line(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    tok->add_merge_line(merges_path + ":" + std::to_string(line_no), line);
  }
  return tok;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::parse_tokenizer_json(const std::string& path) {
  const json j = read_json_file(path);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    throw Error(path, "no \"model\" object");
  }
  const json& model = j["model"];
  if (model.contains("type") && model["type"] != "BPE") {
    throw Error(path, "model.type is " + model["type"].dump() + ", not \"BPE\"");
  }
  // Only GPT-2's byte-level scheme is implemented; anything else would tokenize wrongly.
  const json pre = j.value("pre_tokenizer", json());
  if (!pre.is_object() || pre.value("type", "") != "ByteLevel" || !pre.value("use_regex", true) ||
      pre.value("add_prefix_space", false)) {
    throw Error(path,
                "pre_tokenizer is not GPT-2's ByteLevel (without add_prefix_space): " + pre.dump());
  }
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  const std::string where = path + ": model.vocab";
  tok->set_vocab(read_vocab(model.value("vocab", json()), where), where);

  const json merges = model.value("merges", json::array());
  if (!merges.is_array()) throw Error(path, "model.merges is not an array");
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string where = path + ": model.merges[" + std::to_string(i) + "]";
    const json& m = merges[i];
    if (m.is_string()) {
      tok->add_merge_line(where, m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      tok->add_merge(where, m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw Error(where, "expected \"left right\" or [left, right], got " + m.dump());
    }
  }

  const json added = j.value("added_tokens", json::array());
  if (!added.is_array()) throw Error(path, "added_tokens is not an array");
  for (std::size_t i = 0; i < added.size(); ++i) {
    const json& a = added[i];
    const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
    AddedToken token;
    const auto id = a.is_object() && a.contains("id")
                        ? json_int_in(a["id"], 0, std::numeric_limits<std::int32_t>::max())
                        : std::nullopt;
    if (!id || !parse_added_token(a, where, token)) {
      throw Error(where, "expected {\"id\": integer, \"content\": string, ...}, got " + a.dump());
    }
    token.id = static_cast<std::int32_t>(*id);
    token.special = a.value("special", false);
    tok->add_token(token);
  }
  return tok;
}

void BpeTokenizer::add_token(const AddedToken& token) {
  if (token.content.empty() || token.id < 0) return;
  if (static_cast<std::size_t>(token.id) >= bytes_.size()) {
    bytes_.resize(static_cast<std::size_t>(token.id) + 1);
    skip_in_decode_.resize(bytes_.size(), false);
  }
  if (bytes_[token.id].empty()) bytes_[token.id] = token.content;
  const auto it = std::find_if(added_.begin(), added_.end(),
                               [&](const AddedToken& a) { return a.content == token.content; });
  if (it != added_.end()) {
    if (it->id != token.id) skip_in_decode_[it->id] = false;
    *it = token;
  } else {
    added_.push_back(token);
  }
  skip_in_decode_[token.id] = token.special;
}

std::int32_t BpeTokenizer::added_id(const std::string& content) const {
  for (const AddedToken& a : added_) {
    if (a.content == content) return a.id;
  }
  return -1;
}

void BpeTokenizer::configure(const std::string& model_type, const std::string& dir) {
  // The special tokens of GPT-2, OPT and RoBERTa, when the vocabulary has them: Hugging Face
  // registers them as added tokens from the family's defaults even without side files.
  for (const char* name : {"<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>"}) {
    const auto it = vocab_.find(name);
    if (it != vocab_.end() && added_id(name) < 0) {
      // RobertaTokenizer's mask swallows the space before it: "a <mask>" -> ["a", "<mask>"].
      add_token({name, it->second, std::string(name) == "<mask>", false, true});
    }
  }

  std::string bos, eos, pad;
  if (model_type == "opt") {
    family_ = Family::kOpt;  // OPT's tokenizer uses </s> as BOS
    bos = eos = "</s>", pad = "<pad>";
  } else if (model_type == "roberta") {
    family_ = Family::kRoberta;
    bos = "<s>", eos = "</s>", pad = "<pad>";
  } else {
    family_ = Family::kPlain;
    bos = eos = "<|endoftext|>";
  }

  if (!dir.empty()) {
    namespace fs = std::filesystem;
    const auto side = [&](const char* name) { return (fs::path(dir) / name).string(); };
    const auto register_token = [&](AddedToken token) {
      if (token.id < 0) {
        const auto it = vocab_.find(token.content);
        token.id = it != vocab_.end() ? it->second : added_id(token.content);
      }
      add_token(token);  // a token with no id anywhere is left out, as the model has no row for it
    };

    if (const std::string path = side("added_tokens.json"); fs::exists(path)) {
      const json j = read_json_file(path);
      for (const auto& [content, id] : read_vocab(j, path)) {
        register_token({content, id, false, false, false});
      }
    }
    for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
      const std::string path = side(name);
      if (!fs::exists(path)) continue;
      const json j = read_json_file(path);
      if (!j.is_object()) throw Error(path, "expected a JSON object");
      if (j.contains("added_tokens_decoder")) {
        for (const auto& [id, value] : j["added_tokens_decoder"].items()) {
          AddedToken token;
          const std::string where = path + ": added_tokens_decoder." + id;
          if (!parse_added_token(value, where, token)) continue;
          // The whole key as a decimal id: std::stoi took "12abc" as 12 and " 7" as 7.
          const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), token.id);
          if (ec != std::errc() || end != id.data() + id.size() || token.id < 0) {
            throw Error(where, "the key is not an id (a decimal integer in [0, 2^31))");
          }
          register_token(token);
        }
      }
      for (const char* field : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                "cls_token", "mask_token"}) {
        AddedToken token;
        token.lstrip = std::string(field) == "mask_token" && family_ == Family::kRoberta;
        if (!j.contains(field) || !parse_added_token(j[field], path + ": " + field, token)) {
          continue;
        }
        // A plain string names the token; the options it already has (tokenizer.json) stay.
        for (const AddedToken& known : added_) {
          if (j[field].is_string() && known.content == token.content) token = known;
        }
        token.special = true;
        register_token(token);
        const std::string f = field;
        if (f == "bos_token") bos = token.content;
        if (f == "eos_token") eos = token.content;
        if (f == "pad_token") pad = token.content;
      }
      if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array()) {
        for (const json& value : j["additional_special_tokens"]) {
          AddedToken token;
          if (parse_added_token(value, path + ": additional_special_tokens", token)) {
            token.special = true;
            register_token(token);
          }
        }
      }
    }
  }
  bos_ = bos.empty() ? -1 : added_id(bos);
  eos_ = eos.empty() ? -1 : added_id(eos);
  pad_ = pad.empty() ? -1 : added_id(pad);
  add_bos_ = family_ != Family::kPlain;
  add_eos_ = family_ == Family::kRoberta;
  finish_added();
}

void BpeTokenizer::finish_added() {
  // Longest first: at one position the longest added token wins (Hugging Face matches them
  // leftmost-longest).
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  vocab_ = {};
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_vocab(const Vocab& vocab,
                                                       const std::string& tokens_where,
                                                       const std::string& merges_where) {
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  // A token listed twice keeps its first id for the merges; both ids decode to it.
  std::unordered_map<std::string, std::int32_t> ids;
  ids.reserve(vocab.tokens.size());
  for (std::size_t id = 0; id < vocab.tokens.size(); ++id) {
    ids.emplace(vocab.tokens[id], static_cast<std::int32_t>(id));
  }
  tok->set_vocab(std::move(ids), tokens_where);
  tok->bytes_.resize(vocab.tokens.size());
  tok->skip_in_decode_.resize(vocab.tokens.size(), false);
  for (std::size_t id = 0; id < vocab.tokens.size(); ++id) {
    tok->bytes_[id] = token_bytes(vocab.tokens[id]);
  }
  for (std::size_t i = 0; i < vocab.merges.size(); ++i) {
    tok->add_merge_line(merges_where + "[" + std::to_string(i) + "]", vocab.merges[i]);
  }
  for (const AddedToken& token : vocab.added) {
    if (token.id >= 0 && static_cast<std::size_t>(token.id) < tok->bytes_.size()) {
      tok->bytes_[token.id] = token.content;  // added tokens are not in byte-level spelling
    }
    tok->add_token(token);
  }
  tok->bos_ = vocab.bos;
  tok->eos_ = vocab.eos;
  tok->pad_ = vocab.pad;
  tok->add_bos_ = vocab.add_bos;
  tok->add_eos_ = vocab.add_eos;
  tok->finish_added();
  return tok;
}

BpeTokenizer::Vocab BpeTokenizer::vocab() const {
  Vocab v;
  v.tokens.resize(bytes_.size());
  std::vector<bool> is_added(bytes_.size(), false);
  for (const AddedToken& a : added_) {
    v.added.push_back(a);
    is_added[a.id] = true;
    v.tokens[a.id] = a.content;  // as from_vocab reads them: not byte-level
  }
  for (std::size_t id = 0; id < bytes_.size(); ++id) {
    if (is_added[id]) continue;
    if (bytes_[id].empty()) {
      v.tokens[id] = "[PAD" + std::to_string(id) + "]";
      continue;
    }
    for (const char b : bytes_[id]) v.tokens[id] += byte_token(static_cast<std::uint8_t>(b));
  }
  // Longest-first is how added_ is kept; by id reads better in a file.
  std::sort(v.added.begin(), v.added.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  std::vector<std::pair<std::int32_t, std::uint64_t>> by_rank;
  by_rank.reserve(merges_.size());
  for (const auto& [pair, merge] : merges_) by_rank.emplace_back(merge.rank, pair);
  std::sort(by_rank.begin(), by_rank.end());
  v.merges.reserve(by_rank.size());
  for (const auto& [rank, pair] : by_rank) {
    v.merges.push_back(v.tokens[pair >> 32] + " " + v.tokens[pair & 0xFFFFFFFFu]);
  }
  v.bos = bos_;
  v.eos = eos_;
  v.pad = pad_;
  v.add_bos = add_bos_;
  v.add_eos = add_eos_;
  return v;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_vocab_merges(const std::string& vocab_path,
                                                              const std::string& merges_path,
                                                              const std::string& model_type) {
  auto tok = parse_vocab_merges(vocab_path, merges_path);
  tok->configure(model_type, "");
  return tok;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_tokenizer_json(const std::string& path,
                                                                const std::string& model_type) {
  auto tok = parse_tokenizer_json(path);
  tok->configure(model_type, "");
  return tok;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& dir,
                                                 const std::string& model_type) {
  namespace fs = std::filesystem;
  const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
  const std::string vocab_path = (fs::path(dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(dir) / "merges.txt").string();
  std::unique_ptr<BpeTokenizer> tok;
  if (fs::exists(json_path)) {
    tok = parse_tokenizer_json(json_path);
  } else {
    if (!fs::exists(vocab_path)) throw Error(dir, "no tokenizer.json or vocab.json");
    if (!fs::exists(merges_path)) throw Error(dir, "vocab.json without merges.txt");
    tok = parse_vocab_merges(vocab_path, merges_path);
  }
  tok->configure(model_type, dir);
  return tok;
}

// ---------------------------------------------------------------------------------------------
// Encoding

std::vector<std::pair<std::size_t, std::size_t>> BpeTokenizer::pre_tokenize(std::string_view text) {
  // Code points with their class and byte offset; offsets[n] = text.size().
  std::vector<char32_t> cps;
  std::vector<CharClass> cls;
  std::vector<std::size_t> offsets;
  cps.reserve(text.size());
  cls.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (std::size_t pos = 0; pos < text.size();) {
    offsets.push_back(pos);
    const char32_t cp = utf8::next_code_point(text, pos);
    cps.push_back(cp);
    cls.push_back(classify(cp));
  }
  const std::size_t n = cps.size();
  offsets.push_back(text.size());

  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  const auto run_end = [&](std::size_t k, CharClass c) {
    while (k < n && cls[k] == c) ++k;
    return k;
  };
  std::size_t i = 0;
  while (i < n) {
    std::size_t end = i;
    // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, as GPT-2's regex is)
    if (cps[i] == '\'' && i + 1 < n) {
      const char32_t a = cps[i + 1], b = i + 2 < n ? cps[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = i + 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        end = i + 3;
      }
    }
    if (end == i) {
      //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  : an optional space, then a run of one class
      const std::size_t k = (cps[i] == ' ' && i + 1 < n) ? i + 1 : i;
      if (cls[k] != CharClass::kSpace) {
        end = run_end(k, cls[k]);
      } else {
        // \s+(?!\S) | \s+ : a run of whitespace, less its last character when a non-space
        // follows (that one joins the next piece as its optional space, or stands alone).
        const std::size_t j = run_end(i, CharClass::kSpace);
        end = (j < n && j - i >= 2) ? j - 1 : j;
      }
    }
    pieces.emplace_back(offsets[i], offsets[end]);
    i = end;
  }
  return pieces;
}

void BpeTokenizer::merge_piece(std::string_view piece, std::vector<std::int32_t>& ids) const {
  // Symbols in a linked list; candidate pairs in a heap ordered by (rank, position), as Hugging
  // Face's Word::merge_all: the lowest-ranked pair anywhere merges first, leftmost on ties.
  // Entries go stale when a neighbour merges; a popped entry is used only if both of its
  // symbols are still the ones it was made from.
  const int n = static_cast<int>(piece.size());
  std::vector<std::int32_t> sym(n);
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    sym[i] = byte_id_[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    std::int32_t rank;
    int pos;
    std::int32_t left, right, result;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    const std::int32_t l = sym[pos], r = sym[next[pos]];
    const auto it =
        merges_.find((static_cast<std::uint64_t>(l) << 32) | static_cast<std::uint32_t>(r));
    if (it != merges_.end()) heap.push({it->second.rank, pos, l, r, it->second.result});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int r = next[c.pos];
    if (sym[c.pos] != c.left || r < 0 || sym[r] != c.right) continue;
    sym[c.pos] = c.result;
    sym[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) ids.push_back(sym[i]);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<std::int32_t>& ids) const {
  if (missing_bytes_) {
    for (const char c : piece) {
      if (byte_id_[static_cast<unsigned char>(c)] < 0) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(c));
        throw Error("", std::string("the text is not UTF-8: byte ") + hex +
                            " has no token in this vocabulary");
      }
    }
  }
  if (piece.size() == 1) {
    ids.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(piece); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t first = ids.size();
  merge_piece(piece, ids);
  // Long pieces (runs of one character) rarely repeat; a bounded cache of the short ones.
  constexpr std::size_t kMaxCachedPiece = 64, kMaxCacheEntries = 1 << 16;
  if (piece.size() <= kMaxCachedPiece) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(piece), std::vector<std::int32_t>(ids.begin() + first, ids.end()));
  }
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<std::int32_t>& ids) const {
  for (const auto& [begin, end] : pre_tokenize(text)) {
    encode_piece(text.substr(begin, end - begin), ids);
  }
}

std::vector<std::int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  // Next occurrence of each added token at or after `from` (npos: none).
  std::vector<std::size_t> next(added_.size());
  for (std::size_t k = 0; k < added_.size(); ++k) next[k] = text.find(added_[k].content);
  std::size_t from = 0;
  while (true) {
    std::size_t best = added_.size();
    for (std::size_t k = 0; k < added_.size(); ++k) {
      // added_ is sorted longest first, so on equal positions the first found is the longest.
      if (next[k] != std::string::npos && (best == added_.size() || next[k] < next[best])) best = k;
    }
    if (best == added_.size()) break;
    const AddedToken& token = added_[best];
    const std::size_t at = next[best];
    std::size_t text_end = at;
    if (token.lstrip) {
      while (text_end > from && is_ascii_space(text[text_end - 1])) --text_end;
    }
    encode_ordinary(std::string_view(text).substr(from, text_end - from), ids);
    ids.push_back(token.id);
    from = at + token.content.size();
    if (token.rstrip) {
      while (from < text.size() && is_ascii_space(text[from])) ++from;
    }
    for (std::size_t k = 0; k < added_.size(); ++k) {
      if (next[k] != std::string::npos && next[k] < from)
        next[k] = text.find(added_[k].content, from);
    }
  }
  encode_ordinary(std::string_view(text).substr(from), ids);
  return ids;
}

std::vector<std::int32_t> BpeTokenizer::encode_for_model(const std::string& text) const {
  std::vector<std::int32_t> ids;
  if (add_bos_ && bos_ >= 0) ids.push_back(bos_);
  const auto body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (add_eos_ && eos_ >= 0) ids.push_back(eos_);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Decoding

std::string_view BpeTokenizer::bytes_of(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= bytes_.size() || skip_in_decode_[id]) return {};
  return bytes_[id];
}

std::string BpeTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string text;
  for (const std::int32_t id : ids) text += bytes_of(id);
  return text;
}

std::string BpeTokenizer::decode_next(const std::vector<std::int32_t>& previous,
                                      std::int32_t id) const {
  // Only the last 3 bytes before the token can hold an unfinished character.
  std::string tail;
  for (auto it = previous.rbegin(); it != previous.rend() && tail.size() < 3; ++it) {
    tail.insert(0, bytes_of(*it));
  }
  return utf8::stream_bytes(tail, bytes_of(id));
}

std::int32_t BpeTokenizer::special_id(const std::string& token) const { return added_id(token); }

}  // namespace pocket
