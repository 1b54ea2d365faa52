#include "io/gguf_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "io/bpe_tokenizer.h"
#include "io/error.h"
#include "io/sentencepiece_tokenizer.h"

namespace pocket {
namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr std::string_view kUnknownKey = "tokenizer.ggml.unknown_token_id";

// llama.cpp's token types, which are sentencepiece's ModelProto.SentencePiece.Type values.
enum TokenType : std::int32_t {
  kUndefined = 0,  // written by some converters for plain tokens
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// How GgufFile names a key in its errors.
std::string at_key(const GgufFile& file, std::string_view key) {
  return file.path() + ": key '" + std::string(key) + "'";
}

std::vector<std::string> read_tokens(const GgufFile& file) {
  const GgufValue& array = file.get_array(kTokensKey, GgufType::kString);
  if (array.size() == 0) throw Error(at_key(file, kTokensKey), "no tokens");
  if (array.size() > static_cast<std::uint64_t>(INT32_MAX)) {
    throw Error(at_key(file, kTokensKey), "more tokens than 32-bit ids can name");
  }
  std::vector<std::string> tokens(static_cast<std::size_t>(array.size()));
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = array.string_element(i);
  return tokens;
}

void check_length(const GgufFile& file, std::string_view key, const GgufValue& array,
                  std::size_t n_tokens) {
  if (array.size() != n_tokens) {
    throw Error(at_key(file, key), std::to_string(array.size()) + " entries for " +
                                       std::to_string(n_tokens) + " tokens");
  }
}

// Per token: its type (all normal when the key is absent), checked to be one of the above.
std::vector<std::int32_t> read_types(const GgufFile& file, std::size_t n_tokens) {
  if (file.find(kTypesKey) == nullptr) return std::vector<std::int32_t>(n_tokens, kNormal);
  const GgufValue& array = file.get_array(kTypesKey, GgufType::kInt32);
  check_length(file, kTypesKey, array, n_tokens);
  std::vector<std::int32_t> types = array.to_vector<std::int32_t>();
  for (std::size_t id = 0; id < n_tokens; ++id) {
    if (types[id] < kUndefined || types[id] > kByte) {
      throw Error(at_key(file, kTypesKey), "token " + std::to_string(id) + ": unknown type " +
                                               std::to_string(types[id]) + " (expected 0..6)");
    }
    if (types[id] == kUndefined) types[id] = kNormal;
  }
  return types;
}

// Per token: its score (0 when the key is absent, as llama.cpp reads it).
std::vector<float> read_scores(const GgufFile& file, std::size_t n_tokens) {
  if (file.find(kScoresKey) == nullptr) return std::vector<float>(n_tokens, 0.0f);
  const GgufValue& array = file.get_array(kScoresKey, GgufType::kFloat32);
  check_length(file, kScoresKey, array, n_tokens);
  return array.to_vector<float>();
}

// A token id key: -1 when absent; an error when it names no token.
std::int32_t read_id(const GgufFile& file, std::string_view key, std::size_t n_tokens) {
  if (file.find(key) == nullptr) return -1;
  const std::int64_t id = file.get_integer<std::int64_t>(key);
  if (id < 0 || static_cast<std::uint64_t>(id) >= n_tokens) {
    throw Error(at_key(file, key), "token id " + std::to_string(id) + " out of range (" +
                                       std::to_string(n_tokens) + " tokens)");
  }
  return static_cast<std::int32_t>(id);
}

bool read_bool(const GgufFile& file, std::string_view key, bool absent) {
  return file.find(key) == nullptr ? absent : file.get_bool(key);
}

struct SpecialIds {
  std::int32_t bos, eos, pad;
};

SpecialIds read_special_ids(const GgufFile& file, std::size_t n_tokens) {
  return {read_id(file, "tokenizer.ggml.bos_token_id", n_tokens),
          read_id(file, "tokenizer.ggml.eos_token_id", n_tokens),
          read_id(file, "tokenizer.ggml.padding_token_id", n_tokens)};
}

// Protocol buffers' wire format, the little of it a ModelProto needs: each field is a varint
// tag (field_number << 3 | wire_type), then a varint (type 0), 4 little-endian bytes (type 5),
// or a varint length and that many bytes (type 2: strings and nested messages).
class ProtoWriter {
 public:
  void varint_field(int field, std::uint64_t value) {
    tag(field, 0);
    varint(value);
  }
  void float_field(int field, float value) {
    tag(field, 5);
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 4; ++i) bytes_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void bytes_field(int field, std::string_view value) {
    tag(field, 2);
    varint(value.size());
    bytes_.append(value);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  void tag(int field, int wire_type) {
    varint(static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
  }
  void varint(std::uint64_t value) {
    while (value >= 0x80) {
      bytes_ += static_cast<char>((value & 0x7F) | 0x80);
      value >>= 7;
    }
    bytes_ += static_cast<char>(value);
  }
  std::string bytes_;
};

// Field numbers of sentencepiece_model.proto.
namespace proto {
constexpr int kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr int kPiecePiece = 1, kPieceScore = 2, kPieceType = 3;
constexpr int kTrainerModelType = 3, kTrainerVocabSize = 4, kTrainerByteFallback = 35;
constexpr int kTrainerModelTypeBpe = 2;
constexpr int kNormalizerName = 1, kNormalizerAddDummyPrefix = 3,
              kNormalizerRemoveExtraWhitespaces = 4, kNormalizerEscapeWhitespaces = 5;
}  // namespace proto

std::unique_ptr<Tokenizer> load_llama(const GgufFile& file) {
  const std::size_t n_tokens = file.get_array(kTokensKey, GgufType::kString).size();
  const SpecialIds ids = read_special_ids(file, n_tokens);
  SentencePieceTokenizer::Options options;
  options.bos = ids.bos;
  options.eos = ids.eos;
  options.pad = ids.pad;
  options.add_bos = read_bool(file, "tokenizer.ggml.add_bos_token", true);
  options.add_eos = read_bool(file, "tokenizer.ggml.add_eos_token", false);
  const std::string proto = gguf_sentencepiece_proto(file);
  return SentencePieceTokenizer::from_serialized_proto(proto, file.path(), options);
}

std::unique_ptr<Tokenizer> load_gpt2(const GgufFile& file) {
  if (file.find(kPreKey) != nullptr) {
    const std::string_view pre = file.get_string(kPreKey);
    // Only GPT-2's regex is written here; another pre-tokenizer would split text differently.
    // (llama.cpp's "default" for BPE is its own regex; the models that write it, GPT-NeoX's
    // converters among them, mean GPT-2's ByteLevel one.)
    if (pre != "gpt-2" && pre != "default") {
      throw Error(file.path(), "tokenizer.ggml.pre '" + std::string(pre) +
                                   "' is not supported (only 'gpt-2' and 'default')");
    }
  }
  BpeTokenizer::Vocab vocab;
  vocab.tokens = read_tokens(file);
  const std::vector<std::int32_t> types = read_types(file, vocab.tokens.size());
  const GgufValue& merges = file.get_array(kMergesKey, GgufType::kString);
  vocab.merges.reserve(static_cast<std::size_t>(merges.size()));
  for (std::uint64_t i = 0; i < merges.size(); ++i) {
    vocab.merges.emplace_back(merges.string_element(i));
  }
  // GGUF keeps no lstrip flag; RoBERTa's <mask> swallows the space before it ("a <mask>" ->
  // ["a", "<mask>"]), which llama.cpp too sets by the model's name rather than from the file.
  const GgufValue* arch = file.find("general.architecture");
  const bool roberta = arch != nullptr && file.get_string("general.architecture") == "roberta";
  for (std::size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (types[id] == kControl || types[id] == kUserDefined) {
      BpeTokenizer::AddedToken token;
      token.content = vocab.tokens[id];
      token.id = static_cast<std::int32_t>(id);
      token.special = types[id] == kControl;
      token.lstrip = roberta && token.content == "<mask>";
      vocab.added.push_back(token);
    }
  }
  const SpecialIds ids = read_special_ids(file, vocab.tokens.size());
  vocab.bos = ids.bos;
  vocab.eos = ids.eos;
  vocab.pad = ids.pad;
  vocab.add_bos = read_bool(file, "tokenizer.ggml.add_bos_token", false);
  vocab.add_eos = read_bool(file, "tokenizer.ggml.add_eos_token", false);
  return BpeTokenizer::from_vocab(vocab, at_key(file, kTokensKey), at_key(file, kMergesKey));
}

}  // namespace

std::string gguf_sentencepiece_proto(const GgufFile& file) {
  const std::vector<std::string> tokens = read_tokens(file);
  const std::vector<float> scores = read_scores(file, tokens.size());
  std::vector<std::int32_t> types = read_types(file, tokens.size());
  // The library needs exactly one unknown piece: the one tokenizer.ggml.unknown_token_id names,
  // else the first of type 2. Phi-3's file types its <unk> as control, and its vocabulary's
  // padding ([PAD32011] ...) as unknown: those others become control pieces, which neither
  // llama.cpp nor the library ever produces from text, and which decode to nothing.
  std::int32_t unk = read_id(file, kUnknownKey, tokens.size());
  if (unk < 0) {
    const auto first = std::find(types.begin(), types.end(), kUnknown);
    if (first == types.end()) {
      throw Error(at_key(file, kTypesKey),
                  "no unknown token (type 2), and no tokenizer.ggml.unknown_token_id");
    }
    unk = static_cast<std::int32_t>(first - types.begin());
  }
  for (std::int32_t& type : types) {
    if (type == kUnknown) type = kControl;
  }
  types[unk] = kUnknown;
  const bool has_bytes = std::find(types.begin(), types.end(), kByte) != types.end();

  ProtoWriter model;
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    ProtoWriter piece;
    piece.bytes_field(proto::kPiecePiece, tokens[id]);
    piece.float_field(proto::kPieceScore, scores[id]);
    piece.varint_field(proto::kPieceType, static_cast<std::uint64_t>(types[id]));
    model.bytes_field(proto::kModelPieces, piece.bytes());
  }
  ProtoWriter trainer;
  trainer.varint_field(proto::kTrainerModelType, proto::kTrainerModelTypeBpe);
  trainer.varint_field(proto::kTrainerVocabSize, tokens.size());
  // The library refuses byte pieces without byte fallback.
  trainer.varint_field(proto::kTrainerByteFallback, has_bytes ? 1 : 0);
  model.bytes_field(proto::kModelTrainerSpec, trainer.bytes());
  // llama.cpp's SPM tokenizer: no Unicode normalization, a space before the text, spaces as
  // "▁", runs of whitespace kept.
  ProtoWriter normalizer;
  normalizer.bytes_field(proto::kNormalizerName, "identity");
  normalizer.varint_field(proto::kNormalizerAddDummyPrefix,
                          read_bool(file, "tokenizer.ggml.add_space_prefix", true));
  normalizer.varint_field(proto::kNormalizerRemoveExtraWhitespaces,
                          read_bool(file, "tokenizer.ggml.remove_extra_whitespaces", false));
  normalizer.varint_field(proto::kNormalizerEscapeWhitespaces, 1);
  model.bytes_field(proto::kModelNormalizerSpec, normalizer.bytes());
  return model.bytes();
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& file) {
  const std::string_view model = file.get_string(kModelKey);
  if (model == "llama") return load_llama(file);
  if (model == "gpt2") return load_gpt2(file);
  throw Error(at_key(file, kModelKey),
              "unknown tokenizer model '" + std::string(model) + "' (expected 'llama' or 'gpt2')");
}

}  // namespace pocket
