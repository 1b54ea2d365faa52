// The one way pocket parses JSON text (config.json, tokenizer files, safetensors headers, JSONL
// lines, run files). nlohmann::json's own exceptions never escape: a file that does not parse, a
// number outside double range ("9.9e572") or nesting deeper than kMaxJsonDepth becomes one
// pocket::Error naming the file (and line). Integers are read through json_int*, never through
// get<integer type>() of a value that may be a double (8.8e98 into an int64 is undefined).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "io/error.h"

namespace pocket {

// Deeper than any file pocket reads (tokenizer.json nests about 6 levels); a line of a million
// '[' would otherwise reach code that recurses per level (dump(), the callers' walks).
inline constexpr int kMaxJsonDepth = 64;

// Throws pocket::Error(where, ...) when arrays and objects in `text` nest deeper than
// kMaxJsonDepth; brackets inside strings do not count. One pass, no allocation.
void check_json_depth(std::string_view text, const std::string& where);

// nlohmann's e.what() without its "[json.exception.parse_error.101] " prefix, on one line.
std::string json_error_text(const nlohmann::json::exception& e);

// `text` parsed (an ordered_json too, by Json), with an optional nlohmann parser callback;
// throws pocket::Error(where, "invalid JSON: ...") for anything the library refuses.
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, const std::string& where,
                const typename Json::parser_callback_t& callback = nullptr) {
  check_json_depth(text, where);
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, "invalid JSON: " + json_error_text(e));
  }
}

// The value as an integer when it is a JSON integer in [min, max]; nullopt for anything else
// (3.5, 1e30, "7", an integer outside the range). Json: nlohmann::json or ordered_json.
template <class Json>
std::optional<std::int64_t> json_int_in(const Json& value, std::int64_t min, std::int64_t max) {
  std::int64_t x = 0;
  if (value.is_number_unsigned()) {
    // Above INT64_MAX, get<std::int64_t>() would wrap to a negative number.
    const auto u = value.template get<std::uint64_t>();
    if (max < 0 || u > static_cast<std::uint64_t>(max)) return std::nullopt;
    x = static_cast<std::int64_t>(u);
  } else if (value.is_number_integer()) {
    x = value.template get<std::int64_t>();
  } else {
    return std::nullopt;
  }
  if (x < min || x > max) return std::nullopt;
  return x;
}

// json_int_in, or pocket::Error(where, "field 'name' = <value> is not an integer in [min, max]").
std::int64_t json_int(const nlohmann::json& value, std::string_view name, std::int64_t min,
                      std::int64_t max, const std::string& where);

}  // namespace pocket
