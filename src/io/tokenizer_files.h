// Tokenizer files for `pocket init`, which makes random-weight models offline: small tokenizers
// learned from a built-in English text (tokenizer_corpus.inc), in the formats and with the special
// tokens of each family, so that the model directory loads like one from Hugging Face.
#pragma once

#include <cstdint>
#include <string>

namespace pocket {

// vocab.json + merges.txt + tokenizer_config.json + special_tokens_map.json in `dir`, each
// written atomically: a byte-level BPE with the 256 byte tokens, a few hundred merges learned from
// the built-in text, and the family's special tokens at the family's ids:
//   opt      <s>=0 <pad>=1 </s>=2 <unk>=3, then bytes and merges (</s> is also the BOS)
//   roberta  <s>=0 <pad>=1 </s>=2 <unk>=3, then bytes and merges, <mask> last
//   gpt2     bytes and merges, <|endoftext|> last
// Every id is < vocab_limit (the model's vocab_size); fewer merges are learned when it is small.
// Throws pocket::Error for another model_type, a vocab_limit below what the specials and bytes
// need, or a write that fails.
void write_bpe_tokenizer_files(const std::string& dir, const std::string& model_type,
                               std::int64_t vocab_limit);

// tokenizer.model in `dir` (atomically), plus tokenizer_config.json and special_tokens_map.json:
// a SentencePiece BPE trained on the built-in text with Llama's conventions (<unk>=0 <s>=1 </s>=2,
// byte fallback, digits split) and min(512, vocab_limit) pieces. Throws pocket::Error when
// vocab_limit is too small for the byte pieces, or pocket was built without sentencepiece.
void write_sentencepiece_tokenizer_file(const std::string& dir, std::int64_t vocab_limit);

}  // namespace pocket
