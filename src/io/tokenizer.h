// Text <-> token ids. Two implementations behind one interface:
//   - byte-level BPE (GPT-2, OPT, RoBERTa): bpe_tokenizer.h, written here from vocab.json +
//     merges.txt or tokenizer.json;
//   - SentencePiece (Llama family): sentencepiece_tokenizer.h, through the sentencepiece library.
// load_tokenizer() picks one from the files in a Hugging Face model directory, or builds one from
// a GGUF file's keys (gguf_tokenizer.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pocket {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The ids of `text` as the model's own tokenizer produces them, without special tokens.
  virtual std::vector<std::int32_t> encode(const std::string& text) const = 0;
  // The ids a model is fed for `text`, as Hugging Face's tokenizer(text) does: encode(text) with
  // the family's special tokens around it (Llama: <s> first; OPT: </s> first; RoBERTa/GPT-2:
  // <s> ... </s> for RoBERTa, nothing for GPT-2).
  virtual std::vector<std::int32_t> encode_for_model(const std::string& text) const = 0;
  // Text of a sequence of ids. Special tokens (BOS/EOS/pad) are skipped. decode(encode(x)) == x.
  virtual std::string decode(const std::vector<std::int32_t>& ids) const = 0;
  // Text of one id as it continues `previous` ids, for streaming generation: the bytes that
  // decode(previous + id) adds after decode(previous). May be empty (an incomplete UTF-8
  // sequence is held back until its last byte arrives).
  virtual std::string decode_next(const std::vector<std::int32_t>& previous,
                                  std::int32_t id) const = 0;

  virtual std::int32_t vocab_size() const = 0;
  // -1 when the tokenizer has no such token.
  virtual std::int32_t bos_id() const = 0;
  virtual std::int32_t eos_id() const = 0;
  virtual std::int32_t pad_id() const = 0;
  // Id of a special token by its text (e.g. "<mask>"), -1 if absent.
  virtual std::int32_t special_id(const std::string& token) const = 0;
};

// The tokenizer of a model directory: tokenizer.model -> SentencePiece; else tokenizer.json or
// vocab.json + merges.txt -> byte-level BPE. `model_type` (config.json's, e.g. "opt", "roberta",
// "llama") chooses the special-token convention of encode_for_model. `path` may also be a GGUF
// file: its tokenizer.ggml.* keys (gguf_tokenizer.h) say all, `model_type` is not used. Throws
// pocket::Error naming the directory when no tokenizer files are there, or naming the file that
// is broken.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const std::string& model_type);

}  // namespace pocket
