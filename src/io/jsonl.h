// JSONL files (one JSON value per line), read line by line with the line numbers that error
// messages need: "<path>:<line>: <problem>".
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace pocket {

// Calls visit(line, value) for every non-blank line of `path` in order (line numbers from 1; a
// trailing '\r' is dropped). Throws pocket::Error naming the file when it cannot be read, and
// "<path>:<line>: invalid JSON: ..." for a line that does not parse.
void read_jsonl(const std::string& path,
                const std::function<void(std::int64_t line, const nlohmann::json& value)>& visit);

// "<path>:<line>", the `where` of an error about one line.
std::string jsonl_where(const std::string& path, std::int64_t line);

}  // namespace pocket
