#include "io/jsonl.h"

#include <fstream>

#include "io/error.h"
#include "io/json_parse.h"

namespace pocket {

std::string jsonl_where(const std::string& path, std::int64_t line) {
  return path + ":" + std::to_string(line);
}

void read_jsonl(const std::string& path,
                const std::function<void(std::int64_t line, const nlohmann::json& value)>& visit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open");
  std::string text;
  for (std::int64_t line = 1; std::getline(in, text); ++line) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    visit(line, parse_json(text, jsonl_where(path, line)));
  }
  if (in.bad()) throw Error(path, "read failed");
}

}  // namespace pocket
