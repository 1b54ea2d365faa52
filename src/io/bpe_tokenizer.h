// Byte-level BPE, the tokenizer of GPT-2, OPT and RoBERTa, written from its definition:
//   1. added tokens (<s>, </s>, <pad>, <unk>, <mask>, <|endoftext|>, ...) are cut out of the text
//      first, as Hugging Face does, and become their own ids;
//   2. the rest is split by GPT-2's pre-tokenizer regex
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (matched by hand over UTF-8 code points; the Unicode classes are in unicode_tables.h);
//   3. each piece's bytes start as one token each (GPT-2's byte -> printable character table
//      names them in vocab.json: a space is "Ġ") and adjacent pairs are merged, lowest merge
//      rank (line of merges.txt) first, until no pair of the merge list is left.
// Decoding maps tokens back through the byte table and drops the special tokens.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tokenizer.h"

namespace pocket {

class BpeTokenizer final : public Tokenizer {
 public:
  // A Hugging Face model directory: tokenizer.json if present, else vocab.json + merges.txt;
  // special tokens and their options from added_tokens.json, special_tokens_map.json and
  // tokenizer_config.json when present. `model_type` ("opt", "roberta", "gpt2", ...) picks the
  // special tokens of encode_for_model and bos/eos/pad (config files override the latter).
  static std::unique_ptr<BpeTokenizer> load(const std::string& dir, const std::string& model_type);
  // vocab.json (token -> id) and merges.txt (one "left right" pair per line, rank = order; an
  // optional first line "#version ..."). Throws pocket::Error naming the file (and line).
  static std::unique_ptr<BpeTokenizer> from_vocab_merges(const std::string& vocab_path,
                                                         const std::string& merges_path,
                                                         const std::string& model_type);
  // tokenizer.json: model.vocab, model.merges ("a b" strings or [a, b] pairs), added_tokens.
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const std::string& path,
                                                           const std::string& model_type);

  // A token matched in the text before pre-tokenization (Hugging Face's "added tokens").
  struct AddedToken {
    std::string content;
    std::int32_t id = -1;
    bool lstrip = false;  // swallows the whitespace before it
    bool rstrip = false;  // swallows the whitespace after it
    bool special = true;  // skipped by decode
  };
  // A vocabulary held in memory, as a GGUF file's tokenizer.ggml.* keys give it.
  struct Vocab {
    std::vector<std::string> tokens;  // id -> token, in GPT-2's byte-level spelling
    std::vector<std::string> merges;  // "left right", rank = index
    // Tokens cut out of the text first, by id; their text is taken as it is (not byte-level).
    std::vector<AddedToken> added;
    std::int32_t bos = -1, eos = -1, pad = -1;
    bool add_bos = false, add_eos = false;  // what encode_for_model puts around the text
  };
  // Throws pocket::Error starting with `tokens_where` for a byte missing from the vocabulary, or
  // with `merges_where` + "[i]" for a merge that is not two tokens of it.
  static std::unique_ptr<BpeTokenizer> from_vocab(const Vocab& vocab,
                                                  const std::string& tokens_where,
                                                  const std::string& merges_where);

  // This tokenizer as a Vocab again (what `pocket quantize` writes as tokenizer.ggml.*):
  // from_vocab(vocab()) encodes and decodes as this one does, except that lstrip/rstrip of the
  // added tokens are not kept (GGUF has no place for them). An id the vocabulary skips is named
  // "[PAD<id>]", as llama.cpp's converter pads.
  Vocab vocab() const;

  std::vector<std::int32_t> encode(const std::string& text) const override;
  std::vector<std::int32_t> encode_for_model(const std::string& text) const override;
  // Ids the tokenizer does not have (a model's padded vocabulary) decode to nothing.
  std::string decode(const std::vector<std::int32_t>& ids) const override;
  std::string decode_next(const std::vector<std::int32_t>& previous,
                          std::int32_t id) const override;

  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(bytes_.size()); }
  std::int32_t bos_id() const override { return bos_; }
  std::int32_t eos_id() const override { return eos_; }
  std::int32_t pad_id() const override { return pad_; }
  std::int32_t special_id(const std::string& token) const override;

  // GPT-2's pre-tokenizer alone: the [begin, end) byte ranges of `text`'s pieces, in order,
  // covering it. Public for the tests.
  static std::vector<std::pair<std::size_t, std::size_t>> pre_tokenize(std::string_view text);
  // GPT-2's table of the 256 bytes as printable code points (bytes_to_unicode).
  static const std::array<char32_t, 256>& byte_to_code_point();

 private:
  enum class Family { kPlain, kOpt, kRoberta };
  struct Merge {
    std::int32_t rank;
    std::int32_t result;
  };

  BpeTokenizer() = default;
  // The loaders fill vocab_, bytes_, merges_ (and added_ from tokenizer.json) ...
  static std::unique_ptr<BpeTokenizer> parse_vocab_merges(const std::string& vocab_path,
                                                          const std::string& merges_path);
  static std::unique_ptr<BpeTokenizer> parse_tokenizer_json(const std::string& path);
  // Also checks that the byte tokens are there: all 256, except that those of the bytes no UTF-8
  // text has (0xC0, 0xC1, 0xF5-0xFF) may be missing; encoding such a byte then throws.
  void set_vocab(std::unordered_map<std::string, std::int32_t> vocab, const std::string& where);
  void add_merge(const std::string& where, const std::string& left, const std::string& right);
  // A merge written "left right".
  void add_merge_line(const std::string& where, std::string_view line);
  // ... then this adds the usual specials found in the vocabulary, reads the side files of `dir`
  // (none when empty) and sets bos/eos/pad.
  void configure(const std::string& model_type, const std::string& dir);
  void add_token(const AddedToken& token);
  // Sorts the added tokens for matching and frees the loading state.
  void finish_added();
  std::int32_t added_id(const std::string& content) const;
  // Appends the ids of one pre-tokenized piece.
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& ids) const;
  void merge_piece(std::string_view piece, std::vector<std::int32_t>& ids) const;
  // Appends the ids of text without added tokens in it.
  void encode_ordinary(std::string_view text, std::vector<std::int32_t>& ids) const;
  std::string_view bytes_of(std::int32_t id) const;

  std::unordered_map<std::string, std::int32_t> vocab_;  // while loading: vocab.json as read
  std::vector<std::string> bytes_;    // id -> the bytes it stands for ("" if no such id)
  std::vector<bool> skip_in_decode_;  // id -> special token
  std::array<std::int32_t, 256> byte_id_{};
  std::unordered_map<std::uint64_t, Merge> merges_;  // (left << 32 | right) -> rank, result
  std::vector<AddedToken> added_;
  Family family_ = Family::kPlain;
  bool add_bos_ = false, add_eos_ = false;  // encode_for_model's BOS first, EOS last
  bool missing_bytes_ = false;              // some byte of byte_id_ has no token (-1)
  std::int32_t bos_ = -1, eos_ = -1, pad_ = -1;

  // Pieces seen before -> their ids (text repeats its words). Guarded: encode is const and may
  // be called from several threads.
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>>
      cache_;
};

}  // namespace pocket
