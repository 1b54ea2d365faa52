// The forward pass on random tiny models of each family: the properties HF semantics imply
// (padding on either side changes nothing at real tokens, a batch equals its sequences run alone,
// the KV-cache path equals the full forward, any thread count gives the same bits), and the
// one-line errors of bad configs and inputs. Agreement with PyTorch is golden_test.cpp's job.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "kernels/thread_pool.h"
#include "model/generate.h"
#include "model/model.h"
#include "model/random_model.h"
#include "test_util.h"
#include "tiny_model.h"

namespace pocket {
namespace {

using test::error_of;

using test::make_tiny;
using test::TempDir;

// A tiny random model of `arch` in `dir`; std 0.2 so that logits spread over whole units.
std::vector<float> logits_at(Session& s, const std::vector<std::int32_t>& ids,
                             const std::vector<std::uint8_t>& mask, std::int64_t B,
                             const std::vector<std::int64_t>& rows) {
  const std::int64_t T = static_cast<std::int64_t>(ids.size()) / B;
  std::vector<float> out(rows.size() * static_cast<std::size_t>(s.model().config().vocab_size));
  s.forward({B, T, ids.data(), mask.empty() ? nullptr : mask.data()}, rows.data(),
            static_cast<std::int64_t>(rows.size()), out.data());
  return out;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  return test::max_rel_error(a.data(), b.data(), a.size());
}

const Arch kArchs[] = {Arch::kOpt, Arch::kRoberta, Arch::kLlama};

}  // namespace

TEST_CASE("model: the tensor list of init is what loading binds") {
  for (Arch arch : kArchs) {
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    const auto specs = model_tensor_specs(model.config());
    CHECK(model.checkpoint().all().size() == specs.size());
    std::int64_t params = 0;
    for (const TensorSpec& s : specs) {
      params += std::accumulate(s.shape.begin(), s.shape.end(), std::int64_t{1},
                                std::multiplies<>());
    }
    CHECK(params == model.config().n_params());
  }
}

TEST_CASE("model: padding on either side leaves the real tokens' logits unchanged") {
  for (Arch arch : kArchs) {
    CAPTURE(arch_name(arch));
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    const std::int32_t pad = std::max<std::int32_t>(model.config().pad_token_id, 0);
    const std::vector<std::int32_t> seq = {5, 17, 300, 42, 9, 777};
    const std::int64_t T = 6, P = 3;  // P pads
    Session alone(model, {1, T, T, 0});
    std::vector<std::int64_t> rows(T);
    std::iota(rows.begin(), rows.end(), 0);
    const auto ref = logits_at(alone, seq, {}, 1, rows);

    // Batch of three rows of length T + P: left-padded, right-padded, and a different sequence.
    std::vector<std::int32_t> ids;
    std::vector<std::uint8_t> mask;
    for (int i = 0; i < P; ++i) ids.push_back(pad), mask.push_back(0);
    for (auto id : seq) ids.push_back(id), mask.push_back(1);
    for (auto id : seq) ids.push_back(id), mask.push_back(1);
    for (int i = 0; i < P; ++i) ids.push_back(pad), mask.push_back(0);
    for (int i = 0; i < T + P; ++i) ids.push_back(100 + i), mask.push_back(1);
    Session batch(model, {3, T + P, 2 * T, 0});
    std::vector<std::int64_t> left_rows, right_rows;
    for (std::int64_t t = 0; t < T; ++t) {
      left_rows.push_back(P + t);
      right_rows.push_back((T + P) + t);
    }
    CHECK(rel_diff(logits_at(batch, ids, mask, 3, left_rows), ref) < 1e-5);
    CHECK(rel_diff(logits_at(batch, ids, mask, 3, right_rows), ref) < 1e-5);
    // The logits are not degenerate: they spread over at least a unit.
    const auto [lo, hi] = std::minmax_element(ref.begin(), ref.end());
    CHECK(*hi - *lo > 1.0f);
  }
}

TEST_CASE("model: bit-identical logits for any thread count, and on a session's own pool") {
  // The execution context is passed down: a session on a pool of its own leaves the process-wide
  // pool untouched (no scratch reserved there), and every pool gives the same bits.
  for (Arch arch : kArchs) {
    CAPTURE(arch_name(arch));
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    std::vector<std::int32_t> ids(2 * 33);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 37) % 1000);
    std::vector<std::int64_t> rows(ids.size());
    std::iota(rows.begin(), rows.end(), 0);
    std::vector<std::vector<float>> results;
    set_num_threads(1);  // two changes of size: a fresh process-wide pool, no scratch yet
    set_num_threads(3);
    for (int threads : {1, 3}) {
      ThreadPool own(threads);
      Session s(model, {2, 33, 66, 0}, own);
      results.push_back(logits_at(s, ids, {}, 2, rows));
      CHECK(own.scratch_bytes() > 0);
    }
    CHECK(default_pool().scratch_bytes() == 0);
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      Session s(model, {2, 33, 66, 0});
      results.push_back(logits_at(s, ids, {}, 2, rows));
    }
    set_num_threads(0);
    for (std::size_t i = 1; i < results.size(); ++i) CHECK(results[0] == results[i]);
  }
}

TEST_CASE("model: the KV-cache path gives the full forward's logits") {
  for (Arch arch : {Arch::kOpt, Arch::kLlama}) {
    CAPTURE(arch_name(arch));
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    const std::vector<std::int32_t> seq = {3, 99, 512, 7, 8, 64, 1000, 21, 5};
    const std::int64_t T = static_cast<std::int64_t>(seq.size());
    Session full(model, {1, T, T, 0});
    std::vector<std::int64_t> rows(T);
    std::iota(rows.begin(), rows.end(), 0);
    const auto ref = logits_at(full, seq, {}, 1, rows);
    const std::int64_t V = model.config().vocab_size;

    // Prefill 4 tokens, then one at a time.
    Session cached(model, {1, 4, 1, T});
    std::vector<float> step(V);
    cached.forward_cached(seq.data(), 1, 4, step.data());
    std::vector<float> want(ref.begin() + 3 * V, ref.begin() + 4 * V);
    CHECK(rel_diff(step, want) < 1e-5);
    for (std::int64_t t = 4; t < T; ++t) {
      cached.forward_cached(seq.data() + t, 1, 1, step.data());
      want.assign(ref.begin() + t * V, ref.begin() + (t + 1) * V);
      CHECK(rel_diff(step, want) < 1e-5);
    }
    CHECK(cached.cached_len() == T);
    CHECK_THROWS_AS(cached.forward_cached(seq.data(), 1, 1, step.data()), Error);  // cache full
  }
}

TEST_CASE("model: greedy generation is the argmax of the full forward at every step") {
  for (Arch arch : {Arch::kOpt, Arch::kLlama}) {
    CAPTURE(arch_name(arch));
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    const std::int64_t V = model.config().vocab_size;
    std::vector<std::int32_t> seq = {11, 200, 31, 4};
    GenerateOptions options;
    options.max_new_tokens = 8;
    options.sampler.temperature = 0.0f;
    Session session(model, {1, 4, 1, 12});
    std::vector<float> logits(V);
    std::vector<std::int32_t> got;
    const GenerateStats stats = generate(session, seq, options, logits.data(), [&](std::int32_t id) {
      got.push_back(id);
      return true;
    });
    CHECK(stats.new_tokens == 8);
    REQUIRE(got.size() == 8);
    for (std::int32_t id : got) {
      const std::int64_t T = static_cast<std::int64_t>(seq.size());
      Session full(model, {1, T, 1, 0});
      const auto last = logits_at(full, seq, {}, 1, {T - 1});
      CHECK(id == std::max_element(last.begin(), last.end()) - last.begin());
      seq.push_back(id);
    }
  }
}

TEST_CASE("model: bad configs and inputs are one-line errors naming the problem") {
  TempDir dir;
  make_tiny(Arch::kOpt, dir.path());
  const std::string config = dir.file("config.json");
  auto rewrite = [&](const std::string& text) { write_file_atomic(config, text); };

  rewrite("{\"model_type\": \"gpt_neox\"}");
  CHECK(error_of([&] { Model m(dir.path()); }).find("model_type 'gpt_neox' is not supported") !=
        std::string::npos);
  rewrite("{not json");
  CHECK(error_of([&] { Model m(dir.path()); }).find("invalid JSON") != std::string::npos);
  rewrite("{\"model_type\": \"opt\", \"vocab_size\": 1024}");
  CHECK(error_of([&] { Model m(dir.path()); }).find("missing field 'hidden_size'") !=
        std::string::npos);

  // A config that wants a layer the checkpoint does not have.
  ModelConfig c = shape_config(Arch::kOpt, "tiny");
  c.n_layers = 3;
  rewrite(model_config_json(c));
  const std::string missing = error_of([&] { Model m(dir.path()); });
  CHECK(missing.find("model.decoder.layers.2.self_attn.q_proj.weight") != std::string::npos);
  CHECK(missing.find('\n') == std::string::npos);
  // A config whose widths disagree with the tensors.
  c = shape_config(Arch::kOpt, "tiny");
  c.ffn_dim = 128;
  rewrite(model_config_json(c));
  CHECK(error_of([&] { Model m(dir.path()); }).find("model.decoder.layers.0.fc1.weight") !=
        std::string::npos);

  c = shape_config(Arch::kLlama, "tiny");
  c.model_type = "llama";
  rewrite(model_config_json(c).replace(1, 0, "\"rope_scaling\": {\"type\": \"linear\"}, "));
  CHECK(error_of([&] { load_model_config(dir.path()); }).find("rope_scaling: missing field 'factor'") !=
        std::string::npos);
  rewrite(model_config_json(c).replace(
      1, 0, "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}, "));
  CHECK(error_of([&] { load_model_config(dir.path()); })
            .find("rope_scaling: missing field 'low_freq_factor'") != std::string::npos);
  rewrite(model_config_json(c).replace(
      1, 0, "\"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 8.0}, "));
  CHECK(error_of([&] { load_model_config(dir.path()); })
            .find("rope_type 'longrope' is not supported") != std::string::npos);
  // transformers 5 writes rope_parameters (with rope_theta inside); model_config_json round-trips.
  rewrite(model_config_json(c).replace(
      1, 0, "\"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2.0, "
            "\"rope_theta\": 5e5}, "));
  const ModelConfig v5 = load_model_config(dir.path());
  CHECK(v5.rope_scaling.type == RopeScalingType::kLinear);
  CHECK(v5.rope_scaling.factor == 2.0);
  CHECK(v5.rope_theta == 5e5f);
  rewrite(model_config_json(v5));
  CHECK(load_model_config(dir.path()).rope_scaling.factor == 2.0);

  // Inputs: ids past the vocabulary, sequences past the position table.
  rewrite(model_config_json(shape_config(Arch::kOpt, "tiny")));
  const Model model(dir.path());
  Session s(model, {1, 300, 1, 0});
  std::vector<std::int32_t> ids = {1, 2, 5000};
  std::vector<float> logits(model.config().vocab_size);
  const std::int64_t last = 2;
  CHECK(error_of([&] { s.forward({1, 3, ids.data(), nullptr}, &last, 1, logits.data()); })
            .find("token id 5000") != std::string::npos);
  ids.assign(300, 5);
  const std::int64_t end = 299;
  CHECK(error_of([&] { s.forward({1, 300, ids.data(), nullptr}, &end, 1, logits.data()); })
            .find("max_position_embeddings") != std::string::npos);
}

TEST_CASE("model: init shapes are the published ones") {
  const ModelConfig opt = shape_config(Arch::kOpt, "opt-1.3b");
  CHECK(opt.n_params() > 1'300'000'000);
  CHECK(opt.n_params() < 1'330'000'000);
  const ModelConfig llama = shape_config(Arch::kLlama, "tinyllama-1.1b");
  CHECK(llama.n_params() == 1'100'048'384);  // TinyLlama-1.1B's published parameter count
  const ModelConfig opt350 = shape_config(Arch::kOpt, "opt-350m");
  CHECK(opt350.embed_dim == 512);
  CHECK_FALSE(opt350.pre_norm);
  CHECK_THROWS_AS(shape_config(Arch::kLlama, "opt-125m"), Error);
  CHECK_THROWS_AS(shape_config(Arch::kOpt, "gpt-9"), Error);
}

TEST_CASE("model: random weights are the same bits for any thread count") {
  const ModelConfig c = shape_config(Arch::kLlama, "tiny");
  TempDir a, b;
  set_num_threads(1);
  write_random_weights(c, 3, a.path());
  set_num_threads(2);
  write_random_weights(c, 3, b.path());
  set_num_threads(0);
  std::ifstream fa(a.file("model.safetensors"), std::ios::binary), fb(b.file("model.safetensors"), std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(fa)), {}), sb((std::istreambuf_iterator<char>(fb)), {});
  CHECK(sa.size() > 100000);
  CHECK(sa == sb);
  // std 0.02 as asked, measured on a matrix.
  const SafetensorsFile file(a.file("model.safetensors"));
  const TensorView* w = file.find("model.layers.0.mlp.up_proj.weight");
  REQUIRE(w != nullptr);
  const fp16* h = reinterpret_cast<const fp16*>(w->data);
  double sum = 0, sum2 = 0;
  const std::int64_t n = w->numel();
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = f16_to_f32_scalar(h[i]);
    sum += x;
    sum2 += x * x;
  }
  CHECK(std::fabs(sum / n) < 1e-3);
  CHECK(std::sqrt(sum2 / n) == doctest::Approx(0.02).epsilon(0.02));
}

}  // namespace pocket
