// The `pocket` command end to end: it runs the binary built next to this test binary, checks exit
// statuses, that every failure is one line on stderr, and that what the commands print agrees
// with the library. Skipped (with a message) where that binary cannot be run, e.g. under qemu.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "model/model.h"
#include "cli_util.h"
#include "test_util.h"

namespace pocket {
using namespace cli_test;

TEST_CASE("cli: init, forward --json agrees with the library bit for bit") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string dir = tmp.file("opt");
  Result r = run("init --arch opt --shape tiny --seed 5 " + dir, tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
    CHECK(std::filesystem::exists(dir + "/" + f));
  }
  r = run("forward " + dir + " --ids \"2 10 300 7\" --positions all --json", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["ids"] == nlohmann::json::array({2, 10, 300, 7}));
  REQUIRE(j["logits"].size() == 4);

  const Model model(dir);
  const std::int64_t V = model.config().vocab_size;
  Session s(model, {1, 4, 4, 0});
  const std::int32_t ids[] = {2, 10, 300, 7};
  const std::int64_t rows[] = {0, 1, 2, 3};
  std::vector<float> logits(4 * V);
  s.forward({1, 4, ids, nullptr}, rows, 4, logits.data());
  for (std::int64_t r2 = 0; r2 < 4; ++r2) {
    REQUIRE(j["logits"][r2].size() == static_cast<std::size_t>(V));
    for (std::int64_t v = 0; v < V; ++v) {
      REQUIRE(j["logits"][r2][v].get<float>() == logits[r2 * V + v]);
    }
  }
  // The text path tokenizes with the model's tokenizer (OPT: </s> first).
  r = run("forward " + dir + " --text \"hello there\"", tmp);
  CHECK(r.status == 0);
  CHECK(r.out.rfind("ids: 2 ", 0) == 0);
}

TEST_CASE("cli: generate is deterministic per seed and reports speed") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  for (const char* arch : {"opt", "llama"}) {
    CAPTURE(arch);
    const std::string dir = tmp.file(arch);
    REQUIRE(run(std::string("init --arch ") + arch + " --shape tiny " + dir, tmp).status == 0);
    const Result a = run("generate " + dir + " --prompt \"Once upon\" -n 12 --seed 3", tmp);
    const Result b = run("generate " + dir + " --prompt \"Once upon\" -n 12 --seed 3 --threads 1", tmp);
    REQUIRE_MESSAGE(a.status == 0, a.err);
    CHECK(a.out == b.out);
    CHECK(a.out.rfind("Once upon", 0) == 0);
    CHECK(a.err.find("tokens/s") != std::string::npos);
    CHECK(a.err.find("peak RSS") != std::string::npos);
    const Result g = run("generate " + dir + " --prompt \"Once upon\" -n 12 --temp 0 --ids", tmp);
    CHECK(g.status == 0);
    CHECK(g.err.find("ids:") != std::string::npos);
  }
}

TEST_CASE("cli: convert makes a model pocket runs with the same logits") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  REQUIRE(run("init --arch llama --shape tiny " + tmp.file("a"), tmp).status == 0);
  const Result c = run("convert " + tmp.file("a") + " " + tmp.file("b"), tmp);
  REQUIRE_MESSAGE(c.status == 0, c.err);
  const Result fa = run("forward " + tmp.file("a") + " --ids 1,2,3 --json", tmp);
  const Result fb = run("forward " + tmp.file("b") + " --ids 1,2,3 --json", tmp);
  CHECK(fa.status == 0);
  CHECK(fa.out == fb.out);
}

TEST_CASE("cli: quantize --type f16 of OPT and RoBERTa gives a self-contained GGUF file with "
          "the directory's ids and logits") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  for (const char* arch : {"opt", "roberta"}) {
    CAPTURE(arch);
    const std::string dir = tmp.file(arch), gguf = tmp.file(std::string(arch) + ".gguf");
    REQUIRE(run(std::string("init --arch ") + arch + " --shape tiny " + dir, tmp).status == 0);
    const Result q = run("quantize " + dir + " " + gguf + " --type f16", tmp);
    REQUIRE_MESSAGE(q.status == 0, q.err);
    CHECK(q.err.find("quantize: wrote " + gguf) != std::string::npos);
    const std::string text = " --text \"It was <mask>, she said.\" --positions all --json";
    const Result fa = run("forward " + dir + text, tmp);
    const Result fb = run("forward " + gguf + text, tmp);
    REQUIRE_MESSAGE(fa.status == 0, fa.err);
    CHECK(fa.out == fb.out);  // the tokenizer from tokenizer.ggml.*, F16 logits bit for bit
  }
}

TEST_CASE("cli: bad command lines and inputs are one-line errors with exit status 1") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string dir = tmp.file("rob");
  REQUIRE(run("init --arch roberta --shape tiny " + dir, tmp).status == 0);
  check_one_line_error(run("frobnicate", tmp), "unknown command 'frobnicate'");
  check_one_line_error(run("init --arch roberta --shape tiny " + dir, tmp), "already holds a model");
  check_one_line_error(run("init --arch opt --shape roberta-large " + tmp.file("x"), tmp),
                       "is a roberta shape");
  check_one_line_error(run("init --shape tiny " + tmp.file("x"), tmp), "--arch");
  check_one_line_error(run("forward " + tmp.file("missing") + " --ids 1", tmp), "config.json");
  check_one_line_error(run("forward " + dir + " --ids 1 --bogus", tmp), "--bogus: unknown option");
  check_one_line_error(run("forward " + dir + " --ids \"1 x\"", tmp), "'x' is not a token id");
  check_one_line_error(run("forward " + dir + " --ids 99999", tmp), "token id 99999");
  check_one_line_error(run("forward " + dir, tmp), "exactly one of --text and --ids");
  check_one_line_error(run("generate " + dir + " --prompt hi", tmp), "not a causal");
  check_one_line_error(run("generate " + dir + " --prompt hi -n zero", tmp), "not an integer");
  check_one_line_error(run("forward " + dir + " --ids 1 --threads -2", tmp), "--threads");
  // Every command has --help.
  for (const char* cmd : {"init", "convert", "forward", "generate"}) {
    const Result h = run(std::string(cmd) + " --help", tmp);
    CHECK(h.status == 0);
    CHECK(h.out.find("usage: pocket ") != std::string::npos);
  }
}

}  // namespace pocket
