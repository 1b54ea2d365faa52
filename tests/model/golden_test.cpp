// Golden tests: pocket's forward pass against tests/golden/make_golden.py, an independent float64
// PyTorch implementation of Hugging Face's OPT, RoBERTa, Llama and Qwen2 over the same fp16
// weights (tests/golden/README.md says what each model pins down). Per model:
//   - a padded batch (one full, one right-padded, one left-padded sequence): at every real token,
//     max |ours - ref| / max |ref| <= 1e-4 over all logits;
//   - causal models: greedy decoding through the KV cache (prefill the prompt, then one token at
//     a time) yields the reference's 10 tokens and logits, and one forward() of the whole
//     sequence gives the logits the cached path gave.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "test_util.h"

using namespace pocket;

namespace {

constexpr double kTolerance = 1e-4;  // max |ours - ref| / max |ref|

// tests/golden from the repository root (where `make test` runs), else $POCKET_GOLDEN_DIR.
std::string golden_dir() {
  if (std::filesystem::is_directory("tests/golden")) return "tests/golden";
  if (const char* env = std::getenv("POCKET_GOLDEN_DIR")) return env;
  return "";
}

nlohmann::json load_expected(const std::string& dir) {
  std::ifstream in(dir + "/expected.json");
  REQUIRE_MESSAGE(in.good(), "cannot read " << dir << "/expected.json");
  return nlohmann::json::parse(in);
}

// Running max |ours - ref| and max |ref| over any number of logit vectors.
struct ErrorMeter {
  double err = 0.0, scale = 1e-30;
  void add(const float* ours, const std::vector<double>& ref) {
    for (std::size_t i = 0; i < ref.size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(ours[i]) - ref[i]));
      scale = std::max(scale, std::fabs(ref[i]));
    }
  }
  void add(const float* ours, const float* ref, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      err = std::max(err, std::fabs(static_cast<double>(ours[i]) - ref[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
    }
  }
  double relative() const { return err / scale; }
};

std::int32_t argmax(const float* x, std::int64_t n) {
  return static_cast<std::int32_t>(std::max_element(x, x + n) - x);
}

// The padded batch: logits at every real position against the reference.
void check_padded_batch(const std::string& name, const Model& model,
                        const nlohmann::json& expected) {
  const auto ids_2d = expected.at("ids").get<std::vector<std::vector<std::int32_t>>>();
  const auto mask_2d = expected.at("mask").get<std::vector<std::vector<int>>>();
  const std::int64_t B = static_cast<std::int64_t>(ids_2d.size());
  const std::int64_t T = static_cast<std::int64_t>(ids_2d[0].size());
  const std::int64_t V = model.config().vocab_size;
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> mask;
  for (std::int64_t b = 0; b < B; ++b) {
    REQUIRE(static_cast<std::int64_t>(ids_2d[b].size()) == T);
    ids.insert(ids.end(), ids_2d[b].begin(), ids_2d[b].end());
    for (int m : mask_2d[b]) mask.push_back(static_cast<std::uint8_t>(m));
  }

  std::vector<std::int64_t> rows;
  std::vector<std::vector<double>> ref;
  for (const auto& entry : expected.at("logits")) {
    const std::int64_t b = entry.at(0), t = entry.at(1);
    REQUIRE(mask[b * T + t] == 1);
    rows.push_back(b * T + t);
    ref.push_back(entry.at(2).get<std::vector<double>>());
    REQUIRE(static_cast<std::int64_t>(ref.back().size()) == V);
  }
  const std::int64_t n_rows = static_cast<std::int64_t>(rows.size());
  REQUIRE(n_rows == std::count(mask.begin(), mask.end(), 1));

  SessionLimits limits;
  limits.max_batch = B;
  limits.max_len = T;
  limits.max_logit_rows = n_rows;
  Session session(model, limits);
  std::vector<float> logits(static_cast<std::size_t>(n_rows * V));
  session.forward(TokenBatch{B, T, ids.data(), mask.data()}, rows.data(), n_rows, logits.data());

  ErrorMeter all;
  std::int64_t worst = 0;
  double worst_err = -1.0;
  for (std::int64_t i = 0; i < n_rows; ++i) {
    ErrorMeter one;
    one.add(&logits[i * V], ref[i]);
    all.add(&logits[i * V], ref[i]);
    if (one.err > worst_err) {
      worst = i;
      worst_err = one.err;
    }
  }
  MESSAGE(name << ": padded batch " << B << "x" << T << ", " << n_rows
               << " real positions: max |ours - ref| / max |ref| = " << all.relative());
  INFO(name << ": worst at sequence " << rows[worst] / T << " position " << rows[worst] % T
            << ": max |ours - ref| = " << worst_err << ", max |ref| = " << all.scale);
  CHECK(all.relative() <= kTolerance);
}

// Greedy decoding through the KV cache, then the same sequence through one forward().
void check_greedy(const std::string& name, const Model& model, const nlohmann::json& greedy) {
  const auto prompt = greedy.at("prompt").get<std::vector<std::int32_t>>();
  const auto ref_tokens = greedy.at("tokens").get<std::vector<std::int32_t>>();
  const auto ref_logits = greedy.at("logits").get<std::vector<std::vector<double>>>();
  const std::int64_t V = model.config().vocab_size;
  const std::int64_t P = static_cast<std::int64_t>(prompt.size());
  const std::int64_t steps = static_cast<std::int64_t>(ref_tokens.size());
  const std::int64_t total = P + steps;
  REQUIRE(static_cast<std::int64_t>(ref_logits.size()) == steps);
  for (const auto& step : ref_logits) REQUIRE(static_cast<std::int64_t>(step.size()) == V);

  SessionLimits limits;
  limits.max_batch = 1;
  limits.max_len = total;
  limits.max_logit_rows = steps;
  limits.kv_cache_len = total;
  Session session(model, limits);

  // cached[s, :] = logits the cached path chose token s from.
  std::vector<float> cached(static_cast<std::size_t>(steps * V));
  std::vector<std::int32_t> sequence = prompt, tokens;
  session.forward_cached(prompt.data(), 1, P, cached.data());
  ErrorMeter vs_ref;
  for (std::int64_t s = 0; s < steps; ++s) {
    const float* step = &cached[s * V];
    tokens.push_back(argmax(step, V));
    sequence.push_back(tokens.back());
    if (tokens == std::vector<std::int32_t>(ref_tokens.begin(), ref_tokens.begin() + s + 1)) {
      vs_ref.add(step, ref_logits[s]);
    }
    if (s + 1 < steps) {
      CHECK(session.cached_len() == P + s);
      session.forward_cached(&sequence.back(), 1, 1, &cached[(s + 1) * V]);
    }
  }
  CHECK_MESSAGE(tokens == ref_tokens, name << ": greedy tokens differ from the reference");
  MESSAGE(name << ": greedy " << steps << " tokens through the KV cache: max |ours - ref| / "
               << "max |ref| = " << vs_ref.relative());
  CHECK(vs_ref.relative() <= kTolerance);

  // One forward() of prompt + generated tokens, logits at the positions the steps chose from.
  std::vector<std::int64_t> rows;
  for (std::int64_t s = 0; s < steps; ++s) rows.push_back(P - 1 + s);
  std::vector<float> full(static_cast<std::size_t>(steps * V));
  session.forward(TokenBatch{1, total, sequence.data(), nullptr}, rows.data(), steps, full.data());
  ErrorMeter vs_cached;
  vs_cached.add(full.data(), cached.data(), cached.size());
  MESSAGE(name << ": forward() of all " << total << " tokens vs the cached path: max |diff| / "
               << "max |cached| = " << vs_cached.relative());
  CHECK(vs_cached.relative() <= kTolerance);
}

void check_golden(const std::string& name) {
  const std::string root = golden_dir();
  REQUIRE_MESSAGE(!root.empty(),
                  "tests/golden not found (run from the repository root or set POCKET_GOLDEN_DIR)");
  const std::string dir = root + "/" + name;
  const nlohmann::json expected = load_expected(dir);
  const Model model(dir);
  check_padded_batch(name, model, expected);
  if (model.config().causal) {
    REQUIRE(expected.contains("greedy"));
    check_greedy(name, model, expected.at("greedy"));
  }
}

}  // namespace

TEST_SUITE("golden") {
  TEST_CASE("golden opt_pre: pre-LN OPT, positions from the mask (offset 2), tied head") {
    check_golden("opt_pre");
  }

  TEST_CASE("golden opt_post_proj: post-LN OPT with project_in/project_out (opt-350m layout)") {
    check_golden("opt_post_proj");
  }

  TEST_CASE("golden roberta: RoBERTa MLM, positions from ids, bidirectional attention") {
    check_golden("roberta");
  }

  TEST_CASE("golden llama_gqa: Llama with grouped-query attention, RoPE, untied head") {
    check_golden("llama_gqa");
  }

  TEST_CASE("golden qwen2_tied_bias: Qwen2 with q/k/v biases, rope_theta 1e6, tied head") {
    check_golden("qwen2_tied_bias");
  }

  TEST_CASE("golden llama3_rope: Llama with rope_scaling llama3 (Llama-3.1/3.2 frequencies)") {
    check_golden("llama3_rope");
  }

  TEST_CASE("golden qwen2_yarn: Qwen2 with rope_scaling yarn (ramp and attention factor)") {
    check_golden("qwen2_yarn");
  }

  // The two above would pass vacuously if the scaling changed nothing at these positions: the
  // same weights without rope_scaling must give clearly different logits.
  TEST_CASE("golden: dropping rope_scaling from llama3_rope and qwen2_yarn changes the logits") {
    const std::string root = golden_dir();
    if (root.empty()) {
      MESSAGE("skipped: tests/golden not found");
      return;
    }
    for (const char* name : {"llama3_rope", "qwen2_yarn"}) {
      const Model scaled(root + "/" + name);
      const test::TempDir dir;
      const std::string tmp = dir.path();
      std::filesystem::copy_file(root + "/" + name + "/model.safetensors",
                                 tmp + "/model.safetensors");
      std::ifstream in(root + "/" + name + "/config.json");
      nlohmann::json config = nlohmann::json::parse(in);
      config.erase("rope_scaling");
      std::ofstream(tmp + "/config.json") << config.dump();
      const Model plain(tmp);
      const std::int64_t V = scaled.config().vocab_size, T = 12;
      std::vector<std::int32_t> ids(T);
      for (std::int64_t t = 0; t < T; ++t) ids[t] = static_cast<std::int32_t>(3 + 7 * t % (V - 3));
      const std::int64_t last = T - 1;
      std::vector<float> a(V), b(V);
      Session sa(scaled, {1, T, 1, 0}), sb(plain, {1, T, 1, 0});
      sa.forward({1, T, ids.data(), nullptr}, &last, 1, a.data());
      sb.forward({1, T, ids.data(), nullptr}, &last, 1, b.data());
      ErrorMeter diff;
      diff.add(a.data(), b.data(), static_cast<std::size_t>(V));
      CHECK_MESSAGE(diff.relative() > 1e-2,
                    std::string(name) << ": relative difference " << diff.relative());
    }
  }

}  // TEST_SUITE("golden")
