#include "io/json_parse.h"

namespace pocket {

void check_json_depth(std::string_view text, const std::string& where) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, '"' included, is part of the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw Error(
            where, "invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced text is the parser's to report
    }
  }
}

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (const auto close = what.find("] "); what.starts_with("[json.") && close != what.npos) {
    what.erase(0, close + 2);
  }
  for (char& c : what) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return what;
}

std::int64_t json_int(const nlohmann::json& value, std::string_view name, std::int64_t min,
                      std::int64_t max, const std::string& where) {
  if (const auto x = json_int_in(value, min, max)) return *x;
  throw Error(where, "field '" + std::string(name) + "' = " + value.dump() +
                         " is not an integer in [" + std::to_string(min) + ", " +
                         std::to_string(max) + "]");
}

}  // namespace pocket
