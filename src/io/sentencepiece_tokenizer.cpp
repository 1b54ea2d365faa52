#include "io/sentencepiece_tokenizer.h"

#include <string_view>

#include "io/error.h"
#include "io/utf8.h"

#ifdef POCKET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace pocket {

#ifdef POCKET_HAVE_SENTENCEPIECE

struct SentencePieceTokenizer::Processor {
  sentencepiece::SentencePieceProcessor sp;
};

bool SentencePieceTokenizer::available() { return true; }

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : processor_(std::make_unique<Processor>()), path_(model_path) {
  if (const auto status = processor_->sp.Load(model_path); !status.ok()) {
    throw Error(model_path, "cannot load the SentencePiece model: " + status.ToString());
  }
  read_pieces(Options{});
}

SentencePieceTokenizer::SentencePieceTokenizer(FromProto, const std::string& proto,
                                               const std::string& where, const Options& options)
    : processor_(std::make_unique<Processor>()), path_(where) {
  if (const auto status = processor_->sp.LoadFromSerializedProto(proto); !status.ok()) {
    throw Error(where, "the SentencePiece library refuses the vocabulary: " + status.ToString());
  }
  read_pieces(options);
}

void SentencePieceTokenizer::read_pieces(const Options& options) {
  const auto& sp = processor_->sp;
  const int n = sp.GetPieceSize();
  surface_.resize(n);
  kind_.resize(n);
  std::int32_t first_space_piece = -1;
  for (int id = 0; id < n; ++id) {
    const std::string& piece = sp.IdToPiece(id);
    if (sp.IsControl(id)) {
      kind_[id] = Kind::kControl;
    } else if (sp.IsUnknown(id)) {
      kind_[id] = Kind::kUnknown;
      surface_[id] = " \xE2\x81\x87 ";  // " ⁇ ", the library's default for <unk>
    } else if (sp.IsByte(id)) {
      kind_[id] = Kind::kByte;  // "<0xNN>"
      surface_[id] = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    } else {
      kind_[id] = Kind::kNormal;
      std::string& s = surface_[id];
      for (std::size_t i = 0; i < piece.size();) {
        if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {  // "▁" stands for a space
          s += ' ';
          i += 3;
        } else {
          s += piece[i++];
        }
      }
      if (first_space_piece < 0 && !s.empty() && s[0] == ' ') first_space_piece = id;
    }
  }
  // Whether decoding drops the space of a first "▁word" depends on the model's normalizer
  // (add_dummy_prefix or remove_extra_whitespaces); ask the library instead of its proto.
  if (first_space_piece >= 0) {
    strips_first_space_ =
        sp.DecodeIds({first_space_piece}) == surface_[first_space_piece].substr(1);
  }
  bos_ = options.bos >= 0 ? options.bos : sp.bos_id();
  eos_ = options.eos >= 0 ? options.eos : sp.eos_id();
  pad_ = options.pad >= 0 ? options.pad : sp.pad_id();
  add_bos_ = options.add_bos;
  add_eos_ = options.add_eos;
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  if (const auto status = processor_->sp.Encode(text, &ids); !status.ok()) {
    throw Error(path_, "encoding failed: " + status.ToString());
  }
  return std::vector<std::int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::vector<int> known;
  known.reserve(ids.size());
  for (const std::int32_t id : ids) {
    if (id >= 0 && id < vocab_size()) known.push_back(id);
  }
  std::string text;
  if (const auto status = processor_->sp.Decode(known, &text); !status.ok()) {
    throw Error(path_, "decoding failed: " + status.ToString());
  }
  return text;
}

std::int32_t SentencePieceTokenizer::special_id(const std::string& token) const {
  const auto& sp = processor_->sp;
  const int id = sp.PieceToId(token);
  if (id < 0 || id >= vocab_size() || sp.IdToPiece(id) != token) return -1;
  return kind_[id] == Kind::kControl || kind_[id] == Kind::kUnknown ? id : -1;
}

#else  // !POCKET_HAVE_SENTENCEPIECE

struct SentencePieceTokenizer::Processor {};

bool SentencePieceTokenizer::available() { return false; }

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : path_(model_path) {
  throw Error(model_path,
              "built without sentencepiece: install it (libsentencepiece-dev) and rebuild to "
              "use Llama tokenizers");
}

SentencePieceTokenizer::SentencePieceTokenizer(FromProto, const std::string&,
                                               const std::string& where, const Options&)
    : path_(where) {
  throw Error(where,
              "built without sentencepiece: install it (libsentencepiece-dev) and rebuild to "
              "use Llama tokenizers");
}

// Unreachable: the constructor throws.
std::vector<std::int32_t> SentencePieceTokenizer::encode(const std::string&) const { return {}; }
std::string SentencePieceTokenizer::decode(const std::vector<std::int32_t>&) const { return {}; }
std::int32_t SentencePieceTokenizer::special_id(const std::string&) const { return -1; }

#endif  // POCKET_HAVE_SENTENCEPIECE

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_serialized_proto(
    const std::string& proto, const std::string& where, const Options& options) {
  return std::unique_ptr<SentencePieceTokenizer>(
      new SentencePieceTokenizer(FromProto{}, proto, where, options));
}

std::vector<std::int32_t> SentencePieceTokenizer::encode_for_model(const std::string& text) const {
  std::vector<std::int32_t> ids;
  if (add_bos_ && bos_ >= 0) ids.push_back(bos_);
  const auto body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (add_eos_ && eos_ >= 0) ids.push_back(eos_);
  return ids;
}

std::string_view SentencePieceTokenizer::piece_bytes(std::int32_t id, std::size_t index,
                                                     std::size_t first_text) const {
  if (id < 0 || id >= vocab_size()) return {};
  std::string_view s = surface_[id];
  // The library's decoder drops the leading "▁" of the first piece that is neither control nor
  // byte, when nothing came before it; that space is the dummy prefix encoding added.
  if (strips_first_space_ && index == first_text && kind_[id] == Kind::kNormal && !s.empty() &&
      s[0] == ' ') {
    s.remove_prefix(1);
  }
  return s;
}

std::string SentencePieceTokenizer::decode_next(const std::vector<std::int32_t>& previous,
                                                std::int32_t id) const {
  const auto is_control = [&](std::int32_t i) {
    return i < 0 || i >= vocab_size() || kind_[i] == Kind::kControl;
  };
  std::size_t first_text = 0;
  while (first_text < previous.size() && is_control(previous[first_text])) ++first_text;
  // Only the last 3 bytes before the token can hold an unfinished character.
  std::string tail;
  for (std::size_t i = previous.size(); i-- > 0 && tail.size() < 3;) {
    tail.insert(0, piece_bytes(previous[i], i, first_text));
  }
  return utf8::stream_bytes(tail, piece_bytes(id, previous.size(), first_text));
}

}  // namespace pocket
