// UTF-8 helpers for the tokenizers: reading code points out of arbitrary bytes, and holding back
// an incomplete character at the end of a stream of token bytes (Tokenizer::decode_next).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pocket::utf8 {

// Returned for a byte that does not start a well-formed sequence (it is consumed alone).
inline constexpr char32_t kInvalid = 0xFFFD;

// The code point starting at text[pos]; advances pos past it. Malformed input (a stray
// continuation byte, a truncated or overlong sequence, a surrogate) reads as kInvalid and
// advances one byte, so every byte of the input belongs to exactly one code point.
inline char32_t next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  int len = 0;
  char32_t cp = 0, min = 0;
  if ((lead & 0xE0) == 0xC0) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    ++pos;
    return kInvalid;
  }
  if (pos + len > text.size()) {
    ++pos;
    return kInvalid;
  }
  for (int i = 1; i < len; ++i) {
    const unsigned char c = byte(pos + i);
    if ((c & 0xC0) != 0x80) {
      ++pos;
      return kInvalid;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kInvalid;
  }
  pos += len;
  return cp;
}

inline void append_code_point(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the incomplete character at the end of `bytes`: a lead byte followed by fewer
// continuation bytes than it announces (0 when the bytes end on a character boundary, or in
// malformed bytes, which are passed through as they are). Depends on the last 3 bytes only.
inline std::size_t incomplete_suffix(std::string_view bytes) {
  std::size_t n_cont = 0;
  while (n_cont < 3 && n_cont < bytes.size() &&
         (static_cast<unsigned char>(bytes[bytes.size() - 1 - n_cont]) & 0xC0) == 0x80) {
    ++n_cont;
  }
  if (n_cont == bytes.size()) return 0;
  const unsigned char lead = static_cast<unsigned char>(bytes[bytes.size() - 1 - n_cont]);
  const std::size_t want = (lead & 0xE0) == 0xC0   ? 2
                           : (lead & 0xF0) == 0xE0 ? 3
                           : (lead & 0xF8) == 0xF0 ? 4
                                                   : 0;
  return n_cont + 1 < want ? n_cont + 1 : 0;
}

// Streaming: the bytes a token adds to the text when the bytes before it end in `tail` (the last
// 3 or more bytes of them, or all of them when fewer) and the token itself is `token`. An
// incomplete character at the end is held back, and released by the token that completes it.
inline std::string stream_bytes(std::string_view tail, std::string_view token) {
  std::string out(tail.substr(tail.size() - incomplete_suffix(tail)));
  out += token;
  out.resize(out.size() - incomplete_suffix(out));
  return out;
}

}  // namespace pocket::utf8
