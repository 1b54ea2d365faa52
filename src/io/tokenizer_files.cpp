#include "io/tokenizer_files.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/atomic_file.h"
#include "io/bpe_tokenizer.h"
#include "io/error.h"
#include "io/utf8.h"

#ifdef POCKET_HAVE_SENTENCEPIECE
#include <sentencepiece_trainer.h>
#endif

namespace pocket {
namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::string_view kCorpus =
#include "io/tokenizer_corpus.inc"
    ;

// Merges learned when the vocabulary leaves room for them.
constexpr std::int64_t kBpeMerges = 400;
// Pieces of the SentencePiece model (when the model's vocabulary is at least as large).
constexpr std::int64_t kSentencePieceVocab = 512;

std::string path_in(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir, "cannot create the directory: " + ec.message());
}

// The classic BPE training loop over the corpus' pre-tokenized pieces (GPT-2's regex, so the
// merges are the kind the tokenizer applies): count adjacent token pairs over all pieces weighted
// by how often each piece occurs, merge the most frequent pair everywhere, repeat. Ties go to the
// smallest pair of strings so the result does not depend on hash order. Stops early when no
// pair occurs twice.
std::vector<std::pair<std::string, std::string>> learn_merges(std::int64_t max_merges) {
  // Symbols are indices into `names`, which start as the 256 byte tokens.
  std::vector<std::string> names;
  for (const char32_t cp : BpeTokenizer::byte_to_code_point()) {
    names.emplace_back();
    utf8::append_code_point(names.back(), cp);
  }
  std::map<std::string, std::int64_t> piece_counts;
  for (const auto& [begin, end] : BpeTokenizer::pre_tokenize(kCorpus)) {
    ++piece_counts[std::string(kCorpus.substr(begin, end - begin))];
  }
  struct Word {
    std::vector<int> symbols;
    std::int64_t count;
  };
  std::vector<Word> words;
  for (const auto& [piece, count] : piece_counts) {
    Word w{{}, count};
    for (const char c : piece) w.symbols.push_back(static_cast<unsigned char>(c));
    words.push_back(std::move(w));
  }

  const auto key = [](int a, int b) { return (static_cast<std::uint64_t>(a) << 32) | b; };
  std::vector<std::pair<std::string, std::string>> merges;
  std::unordered_map<std::uint64_t, std::int64_t> pair_counts;
  while (static_cast<std::int64_t>(merges.size()) < max_merges) {
    pair_counts.clear();
    for (const Word& w : words) {
      for (std::size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        pair_counts[key(w.symbols[i], w.symbols[i + 1])] += w.count;
      }
    }
    std::uint64_t best = 0;
    std::int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts) {
      const auto names_of = [&](std::uint64_t p) {
        return std::tie(names[p >> 32], names[p & 0xFFFFFFFF]);
      };
      if (count > best_count || (count == best_count && names_of(pair) < names_of(best))) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count < 2) break;
    const int left = static_cast<int>(best >> 32), right = static_cast<int>(best & 0xFFFFFFFF);
    const int merged = static_cast<int>(names.size());
    names.push_back(names[left] + names[right]);
    for (Word& w : words) {
      std::size_t out = 0;
      for (std::size_t i = 0; i < w.symbols.size(); ++i, ++out) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
          w.symbols[out] = merged;
          ++i;
        } else {
          w.symbols[out] = w.symbols[i];
        }
      }
      w.symbols.resize(out);
    }
    merges.emplace_back(names[left], names[right]);
  }
  return merges;
}

// A special token as Hugging Face writes it in the config files.
ordered_json added_token_json(const std::string& content, bool lstrip) {
  return ordered_json{{"content", content}, {"lstrip", lstrip},     {"normalized", false},
                      {"rstrip", false},    {"single_word", false}, {"special", true}};
}

void write_json(const std::string& path, const ordered_json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace

void write_bpe_tokenizer_files(const std::string& dir, const std::string& model_type,
                               std::int64_t vocab_limit) {
  std::vector<std::string> leading, trailing;  // specials before the bytes, after the merges
  if (model_type == "opt" || model_type == "roberta") {
    leading = {"<s>", "<pad>", "</s>", "<unk>"};
    if (model_type == "roberta") trailing = {"<mask>"};
  } else if (model_type == "gpt2") {
    trailing = {"<|endoftext|>"};
  } else {
    throw Error(model_type,
                "no byte-level BPE tokenizer convention for this model type "
                "(opt, roberta, gpt2)");
  }
  const std::int64_t fixed = static_cast<std::int64_t>(leading.size() + trailing.size()) + 256;
  if (vocab_limit < fixed) {
    throw Error(dir, "vocab_size " + std::to_string(vocab_limit) +
                         " is too small for a byte-level BPE tokenizer (it needs at least " +
                         std::to_string(fixed) + " ids)");
  }

  ordered_json vocab = ordered_json::object();
  std::int32_t next_id = 0;
  for (const auto& s : leading) vocab[s] = next_id++;
  // The byte tokens in GPT-2's order: by the code point that stands for each byte.
  std::vector<char32_t> byte_cps(BpeTokenizer::byte_to_code_point().begin(),
                                 BpeTokenizer::byte_to_code_point().end());
  std::sort(byte_cps.begin(), byte_cps.end());
  for (const char32_t cp : byte_cps) {
    std::string s;
    utf8::append_code_point(s, cp);
    vocab[s] = next_id++;
  }
  const auto merges = learn_merges(std::min(kBpeMerges, vocab_limit - fixed));
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [left, right] : merges) {
    merges_txt += left + " " + right + "\n";
    if (!vocab.contains(left + right)) vocab[left + right] = next_id++;
  }
  for (const auto& s : trailing) vocab[s] = next_id++;

  ordered_json specials, config;
  if (model_type == "opt") {
    // OPT's files: </s> is BOS, EOS and UNK; the tokenizer puts it before the text.
    specials = {{"bos_token", added_token_json("</s>", false)},
                {"eos_token", added_token_json("</s>", false)},
                {"unk_token", added_token_json("</s>", false)},
                {"pad_token", added_token_json("<pad>", false)}};
    config = {{"tokenizer_class", "GPT2Tokenizer"},
              {"add_bos_token", true},
              {"add_prefix_space", false},
              {"errors", "replace"}};
  } else if (model_type == "roberta") {
    specials = {{"bos_token", added_token_json("<s>", false)},
                {"eos_token", added_token_json("</s>", false)},
                {"unk_token", added_token_json("<unk>", false)},
                {"sep_token", added_token_json("</s>", false)},
                {"pad_token", added_token_json("<pad>", false)},
                {"cls_token", added_token_json("<s>", false)},
                {"mask_token", added_token_json("<mask>", true)}};
    config = {{"tokenizer_class", "RobertaTokenizer"},
              {"add_prefix_space", false},
              {"errors", "replace"},
              {"trim_offsets", true}};
  } else {
    specials = {{"bos_token", added_token_json("<|endoftext|>", false)},
                {"eos_token", added_token_json("<|endoftext|>", false)},
                {"unk_token", added_token_json("<|endoftext|>", false)}};
    config = {
        {"tokenizer_class", "GPT2Tokenizer"}, {"add_prefix_space", false}, {"errors", "replace"}};
  }
  for (const auto& [key, value] : specials.items()) config[key] = value;

  make_dir(dir);
  write_file_atomic(path_in(dir, "vocab.json"), vocab.dump() + "\n");
  write_file_atomic(path_in(dir, "merges.txt"), merges_txt);
  write_json(path_in(dir, "special_tokens_map.json"), specials);
  write_json(path_in(dir, "tokenizer_config.json"), config);
}

#ifdef POCKET_HAVE_SENTENCEPIECE

namespace {

// The corpus, one line per sentence, for the trainer.
class CorpusLines : public sentencepiece::SentenceIterator {
 public:
  CorpusLines() {
    std::size_t start = 0;
    while (start < kCorpus.size()) {
      std::size_t end = kCorpus.find('\n', start);
      if (end == std::string_view::npos) end = kCorpus.size();
      if (end > start) lines_.emplace_back(kCorpus.substr(start, end - start));
      start = end + 1;
    }
  }
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return lines_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> lines_;
  std::size_t index_ = 0;
};

}  // namespace

void write_sentencepiece_tokenizer_file(const std::string& dir, std::int64_t vocab_limit) {
  // 3 specials + 256 byte pieces + the characters of the corpus as single pieces.
  constexpr std::int64_t kMinVocab = 384;
  if (vocab_limit < kMinVocab) {
    throw Error(dir, "vocab_size " + std::to_string(vocab_limit) +
                         " is too small for a byte-fallback SentencePiece tokenizer (it needs at "
                         "least " +
                         std::to_string(kMinVocab) + " ids)");
  }
  const std::int64_t n_pieces = std::min(kSentencePieceVocab, vocab_limit);
  // Llama's trainer settings, scaled down: BPE, byte fallback, digits one by one, the text kept
  // as written (identity normalization, whitespace not collapsed), a dummy prefix space.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(n_pieces)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
  };
  CorpusLines lines;
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines, &model);
  if (!status.ok())
    throw Error(dir, "training the SentencePiece tokenizer failed: " + status.ToString());

  make_dir(dir);
  write_file_atomic(path_in(dir, "tokenizer.model"), model);
  const ordered_json specials = {{"bos_token", added_token_json("<s>", false)},
                                 {"eos_token", added_token_json("</s>", false)},
                                 {"unk_token", added_token_json("<unk>", false)}};
  ordered_json config = {{"tokenizer_class", "LlamaTokenizer"},
                         {"add_bos_token", true},
                         {"add_eos_token", false},
                         {"legacy", true}};
  for (const auto& [key, value] : specials.items()) config[key] = value;
  write_json(path_in(dir, "special_tokens_map.json"), specials);
  write_json(path_in(dir, "tokenizer_config.json"), config);
}

#else  // !POCKET_HAVE_SENTENCEPIECE

void write_sentencepiece_tokenizer_file(const std::string& dir, std::int64_t) {
  throw Error(dir,
              "built without sentencepiece: a Llama tokenizer cannot be made; install it "
              "(libsentencepiece-dev) and rebuild");
}

#endif  // POCKET_HAVE_SENTENCEPIECE

}  // namespace pocket
