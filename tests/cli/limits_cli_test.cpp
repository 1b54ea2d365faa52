// Resource limits from flags and config.json (issue 17): absurd thread counts, zero or negative
// batches and steps, generation past the context, configs with huge or zero sizes - each a
// one-line error naming the flag or file before anything large is allocated, never an OOM kill,
// a crash or a library's exception text. Run on a tiny random llama from `pocket init`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "test_util.h"

namespace pocket {
using namespace cli_test;
namespace fs = std::filesystem;

namespace {

// A copy of the model in `base` under `name`, its config.json changed by `edit`.
template <typename Edit>
std::string with_config(const test::TempDir& tmp, const std::string& base, const std::string& name,
                        Edit edit) {
  const std::string dir = tmp.file(name);
  fs::copy(base, dir, fs::copy_options::recursive);
  nlohmann::json c = nlohmann::json::parse(slurp(dir + "/config.json"));
  edit(c);
  std::ofstream(dir + "/config.json") << c.dump();
  return dir;
}

}  // namespace

TEST_CASE("cli: absurd --threads, --batch, --steps and -n are one-line errors") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string dir = tmp.file("llama");
  REQUIRE(run("init --arch llama --shape tiny " + dir, tmp).status == 0);
  std::ofstream(tmp.file("lm.jsonl")) << "{\"text\":\"hello world\"}\n{\"text\":\"once upon\"}\n";
  const std::string data = " --task lm --data " + tmp.file("lm.jsonl");

  // 0 is every hardware thread (a success); above 1024 (or 8 per hardware thread, at least 64)
  // the pool is refused before a thread starts.
  const Result all = run("forward " + dir + " --ids 1 --threads 0", tmp);
  CHECK_MESSAGE(all.status == 0, all.err);
  check_one_line_error(run("forward " + dir + " --ids 1 --threads 1025", tmp), "--threads: 1025");
  check_one_line_error(run("generate " + dir + " --prompt hi --threads 100000", tmp), "--threads");
  check_one_line_error(run("eval " + dir + data + " --threads 9999999999999999999999", tmp),
                       "is not an integer");

  check_one_line_error(run("eval " + dir + data + " --batch 0", tmp), "--batch: must be");
  check_one_line_error(run("tune " + dir + data + " --out " + tmp.file("r1") + " --batch 0", tmp),
                       "--batch: must be");
  check_one_line_error(run("tune " + dir + data + " --out " + tmp.file("r2") + " --steps -1", tmp),
                       "--steps: must be");
  check_one_line_error(run("tune " + dir + data + " --out " + tmp.file("r3") + " --steps 0", tmp),
                       "--steps: must be");
  CHECK_FALSE(fs::exists(tmp.file("r3")));  // refused before the run directory is made

  // The tiny llama's context is 256 positions; -n near INT64_MAX must not wrap the sum around.
  check_one_line_error(run("generate " + dir + " --prompt hi -n 300", tmp),
                       "exceed max_position_embeddings 256");
  check_one_line_error(run("generate " + dir + " --prompt hi -n 9223372036854775807", tmp),
                       "exceed max_position_embeddings 256");
  check_one_line_error(run("generate " + dir + " --prompt hi -n 0", tmp), "-n: must be");
  check_one_line_error(run("generate " + dir + " --prompt hi -n -1", tmp), "-n: must be");
}

TEST_CASE("cli: config.json with huge or zero sizes is a one-line error naming the field") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string base = tmp.file("llama");
  REQUIRE(run("init --arch llama --shape tiny " + base, tmp).status == 0);
  using nlohmann::json;
  struct Case {
    const char* name;
    const char* key;
    json value;
    const char* phrase;
  };
  const Case cases[] = {
      {"hidden_1e9", "hidden_size", 1e9, "'hidden_size' = 1000000000.0 is not an integer in"},
      {"hidden_int", "hidden_size", 1000000000, "'hidden_size' = 1000000000 is not an integer in"},
      {"layers_0", "num_hidden_layers", 0, "'num_hidden_layers' = 0 is not an integer in"},
      {"vocab_0", "vocab_size", 0, "'vocab_size' = 0 is not an integer in"},
      {"vocab_huge", "vocab_size", 1e18, "'vocab_size'"},
      {"ffn_huge", "intermediate_size", std::int64_t{1} << 40, "'intermediate_size'"},
      {"heads_0", "num_attention_heads", 0, "'num_attention_heads' = 0"},
      {"positions_0", "max_position_embeddings", 0, "'max_position_embeddings' = 0"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    const std::string dir = with_config(tmp, base, k.name, [&](json& c) { c[k.key] = k.value; });
    const Result r = run("forward " + dir + " --ids 1", tmp);
    check_one_line_error(r, dir + "/config.json: field");
    CHECK_MESSAGE(r.err.find(k.phrase) != std::string::npos, r.err);
  }
  // bos 1 and eos 2 are not below a vocabulary of 2 ids.
  const std::string special =
      with_config(tmp, base, "special", [](json& c) { c["vocab_size"] = 2; });
  check_one_line_error(run("forward " + special + " --ids 1", tmp),
                       "a special token id is not below vocab_size");

  // Sizes the limits allow but the weights do not have: the shape check of the mapped tensors
  // refuses them, so a 2^20-wide hidden size never reaches an allocation.
  const std::string wide =
      with_config(tmp, base, "wide", [](json& c) { c["hidden_size"] = 1 << 20; });
  check_one_line_error(run("forward " + wide + " --ids 1", tmp), "expected [1024, 1048576]");
  const std::string deep =
      with_config(tmp, base, "deep", [](json& c) { c["num_hidden_layers"] = 4096; });
  check_one_line_error(run("forward " + deep + " --ids 1", tmp), "model.layers.2.");
}

TEST_CASE("cli: side-tune and side-server refuse timeouts that do not fit in milliseconds") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  check_one_line_error(run("side-server --model m --key-file k --timeout 9223372036854775", tmp),
                       "--timeout: must be in 1..86400");
  check_one_line_error(run("side-tune m --server h:1 --key-file k --data d --out o "
                           "--timeout 3000000",
                           tmp),
                       "--timeout: must be in 1..86400");
  check_one_line_error(run("side-tune m --server h:1 --key-file k --data d --out o "
                           "--retry 9223372036854775807",
                           tmp),
                       "--retry: must be in 0..86400");
}

}  // namespace pocket
