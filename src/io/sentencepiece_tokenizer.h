// The Llama family's tokenizer: a SentencePiece model (tokenizer.model) run by the sentencepiece
// library. Encoding is the library's (no BOS/EOS); encode_for_model puts <s> first, as Hugging
// Face's LlamaTokenizer does (add_bos_token, no EOS). The library is optional at build time
// (POCKET_HAVE_SENTENCEPIECE): without it, loading throws a pocket::Error that says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer.h"

namespace pocket {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Loads tokenizer.model. Throws pocket::Error naming the file when it cannot be read or is not
  // a SentencePiece model, or when pocket was built without sentencepiece.
  explicit SentencePieceTokenizer(const std::string& model_path);
  // What a model file does not say but a GGUF file does: the special ids (-1: the library's own,
  // from the pieces "<s>", "</s>", "<pad>") and what encode_for_model puts around the text.
  struct Options {
    std::int32_t bos = -1, eos = -1, pad = -1;
    bool add_bos = true, add_eos = false;
  };
  // A serialized ModelProto held in memory (a GGUF file's tokenizer); `where` names it in errors.
  static std::unique_ptr<SentencePieceTokenizer> from_serialized_proto(const std::string& proto,
                                                                       const std::string& where,
                                                                       const Options& options);
  ~SentencePieceTokenizer() override;

  // Whether this build has the sentencepiece library.
  static bool available();

  std::vector<std::int32_t> encode(const std::string& text) const override;
  std::vector<std::int32_t> encode_for_model(const std::string& text) const override;
  // The library's decoding: control tokens skipped, <0xNN> byte pieces joined into UTF-8, the
  // space that encoding put before the first word removed. Ids the model does not have (a
  // model's padded vocabulary) decode to nothing.
  std::string decode(const std::vector<std::int32_t>& ids) const override;
  std::string decode_next(const std::vector<std::int32_t>& previous,
                          std::int32_t id) const override;

  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(surface_.size()); }
  std::int32_t bos_id() const override { return bos_; }
  std::int32_t eos_id() const override { return eos_; }
  std::int32_t pad_id() const override { return pad_; }
  // A control or unknown piece by its text ("<s>", "</s>", "<unk>"), -1 otherwise.
  std::int32_t special_id(const std::string& token) const override;

 private:
  enum class Kind : std::uint8_t { kNormal, kByte, kControl, kUnknown };

  struct FromProto {};
  SentencePieceTokenizer(FromProto, const std::string& proto, const std::string& where,
                         const Options& options);
  // Fills surface_, kind_ and the special ids once the library has its model.
  void read_pieces(const Options& options);

  // The bytes piece `id` adds at `index` of a sequence whose first non-control piece is at
  // `first_text` (the library drops the leading space of that one).
  std::string_view piece_bytes(std::int32_t id, std::size_t index, std::size_t first_text) const;

  struct Processor;  // the library's SentencePieceProcessor, kept out of this header
  std::unique_ptr<Processor> processor_;
  std::string path_;
  // Per id, what decoding adds for it: "▁" as a space, a byte piece as its byte, nothing for a
  // control piece, the library's " ⁇ " for an unknown one. Streaming (decode_next) uses these.
  std::vector<std::string> surface_;
  std::vector<Kind> kind_;
  bool strips_first_space_ = false;  // the model adds a dummy prefix space that decoding removes
  std::int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace pocket
