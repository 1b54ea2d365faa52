// Tests of src/io/json_parse* and of the readers that use it (issue 17, found by fuzzing): a
// number outside double range, nesting a million levels deep, integers that are doubles or out of
// range. Each must be one pocket::Error naming the file, never nlohmann's own exception text or a
// crash.
#include "io/json_parse.h"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "io/error.h"
#include "io/jsonl.h"
#include "io/model_config.h"
#include "test_util.h"

using namespace pocket;

namespace {

using test::error_of;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// One line naming `where`, with none of nlohmann's "[json.exception...." prefix.
void check_error(const std::string& msg, const std::string& where, const std::string& what) {
  CAPTURE(msg);
  CHECK(msg.starts_with(where + ": "));
  CHECK(msg.find(what) != std::string::npos);
  CHECK(msg.find("[json.exception") == std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
}

std::string llama_config(const std::string& hidden, const std::string& eps) {
  return "{\"model_type\": \"llama\", \"vocab_size\": 32, \"hidden_size\": " + hidden +
         ", \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 16,"
         " \"rms_norm_eps\": " +
         eps + "}";
}

}  // namespace

TEST_CASE("json_parse: library errors become one-line pocket::Errors naming the source") {
  check_error(error_of([] { parse_json("{\"x\": 9.9e572}", "a.json"); }), "a.json",
              "invalid JSON: number overflow");
  check_error(error_of([] { parse_json("{\"x\": ", "a.json"); }), "a.json", "invalid JSON");
  CHECK(parse_json("{\"x\": [1, {\"y\": 2}]}", "a.json")["x"][1]["y"] == 2);
}

TEST_CASE("json_parse: nesting is capped before the parser (and its callers) recurse") {
  const auto start = std::chrono::steady_clock::now();
  check_error(error_of([] { parse_json(std::string(1'000'000, '['), "deep.json"); }), "deep.json",
              "nested deeper than 64 levels");
  check_error(error_of([] { parse_json(std::string(1'000'000, '{'), "deep.json"); }), "deep.json",
              "nested deeper than 64 levels");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));

  const std::string at_cap = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  CHECK(parse_json(at_cap, "a.json").is_array());
  const std::string over = "[" + at_cap + "]";
  CHECK(error_of([&] { parse_json(over, "a.json"); }).find("nested deeper") != std::string::npos);
  // Brackets inside strings, escaped quotes included, are text, not nesting.
  const std::string in_string = "[\"\\\"" + std::string(1000, '[') + "\"]";
  CHECK(parse_json(in_string, "a.json")[0].get<std::string>().size() == 1001);
}

TEST_CASE("json_parse: json_int accepts integers in range only") {
  const auto value = [](const char* text) { return parse_json(text, "v"); };
  CHECK(json_int_in(value("7"), 0, 10) == 7);
  CHECK(json_int_in(value("-5"), -5, 10) == -5);
  CHECK_FALSE(json_int_in(value("-5"), 0, 10));
  CHECK_FALSE(json_int_in(value("3.5"), 0, 10));
  CHECK_FALSE(json_int_in(value("3.0"), 0, 10));
  CHECK_FALSE(json_int_in(value("1e30"), 0, 10));
  CHECK_FALSE(json_int_in(value("8.8e98"), 0, 10));
  CHECK_FALSE(json_int_in(value("\"7\""), 0, 10));
  CHECK_FALSE(json_int_in(value("18446744073709551615"), -10, 10));  // not -1
  check_error(error_of([&] { json_int(value("1e30"), "n", 1, 4, "f.json"); }), "f.json",
              "field 'n' = 1e+30 is not an integer in [1, 4]");
}

TEST_CASE("config.json: an overflowing number or a size that is no integer in range") {
  test::TempDir dir;
  const std::string path = dir.file("config.json");
  write_text(path, llama_config("8", "9.9e572"));
  check_error(error_of([&] { load_model_config(dir.path()); }), path, "number overflow");
  for (const char* hidden : {"1e30", "-5", "3.5", "18446744073709551615"}) {
    CAPTURE(hidden);
    write_text(path, llama_config(hidden, "1e-6"));
    check_error(error_of([&] { load_model_config(dir.path()); }), path, "field 'hidden_size' = ");
  }
  write_text(path, llama_config("8", "1e-6"));
  CHECK(load_model_config(dir.path()).hidden == 8);
}

TEST_CASE("JSONL: an overflowing number or deep nesting names the file and the line") {
  test::TempDir dir;
  const std::string path = dir.file("data.jsonl");
  const auto read = [&] { read_jsonl(path, [](std::int64_t, const nlohmann::json&) {}); };
  write_text(path, "{\"x\": 1}\n{\"x\": 9.9e572}\n");
  check_error(error_of(read), path + ":2", "invalid JSON: number overflow");
  write_text(path, "{\"x\": 1}\n" + std::string(1'000'000, '[') + "\n");
  check_error(error_of(read), path + ":2", "nested deeper than 64 levels");
}
