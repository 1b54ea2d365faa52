// The fused ZO step on tiny random models: the two-stream forward against the plain one, the
// update against the kernels, rejection of non-finite steps, frozen tensors, no allocation in a
// step, and the data order.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "alloc_counter.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "io/tokenizer_files.h"
#include "kernels/fp16.h"
#include "kernels/thread_pool.h"
#include "kernels/zo_update.h"
#include "kernels/zrng.h"
#include "model/model_weights.h"
#include "model/random_model.h"
#include "test_util.h"
#include "task/data_order.h"
#include "zo/zo_step.h"

namespace pocket {
namespace {

using test::TempDir;

// A tiny model with a BPE tokenizer and a small sentiment-like JSONL file.
struct Fixture {
  TempDir tmp;
  std::string dir = tmp.file("model");
  std::string data = tmp.file("train.jsonl");
  explicit Fixture(Arch arch = Arch::kOpt, bool tokenizer = true) {
    ModelConfig c = shape_config(arch, "tiny");
    std::filesystem::create_directories(dir);
    write_random_weights(c, 11, dir, 0.2f);
    if (tokenizer && arch == Arch::kLlama) {
      write_sentencepiece_tokenizer_file(dir, std::min<std::int64_t>(c.vocab_size, 512));
    } else if (tokenizer) {
      write_bpe_tokenizer_files(dir, c.model_type, c.vocab_size);
    }
    write_file_atomic(dir + "/config.json", model_config_json(c));
    std::ofstream out(data);
    const char* words[] = {"good", "bad", "fine", "awful", "nice", "poor"};
    for (int i = 0; i < 12; ++i) {
      out << "{\"sentence\": \"the film was " << words[i % 6] << " and " << words[(i * 5) % 6]
          << "\", \"label\": " << (i % 2 == 0 ? 1 : 0) << "}\n";
    }
  }
  TaskOptions options(Arch arch) const {
    TaskOptions o;
    if (arch == Arch::kRoberta) {
      o.template_text = "{sentence} It was<mask>.";
      o.labels = " the| a";  // single tokens in the tiny tokenizer's vocabulary
    }
    return o;
  }
};

// Collects every chunk of logits per stream, checking they arrive in row order.
struct Capture : LogitSink {
  explicit Capture(std::int64_t vocab) : vocab(vocab) {}
  void consume(int stream, std::int64_t first, std::int64_t count, const float* l) override {
    auto& v = logits[stream];
    CHECK(static_cast<std::int64_t>(v.size()) == first * vocab);
    v.insert(v.end(), l, l + count * vocab);
  }
  std::int64_t vocab;
  std::vector<float> logits[kMaxStreams];
};

// Two sequences of 6 (the second padded by 2) and 4 logit rows, for the stream-forward tests.
struct SmallBatch {
  SmallBatch() = default;
  SmallBatch(const SmallBatch&) = delete;  // batch points into the object itself
  SmallBatch& operator=(const SmallBatch&) = delete;
  static SessionLimits limits(int streams) {
    SessionLimits l;
    l.max_batch = 2;
    l.max_len = 6;
    l.logit_chunk_rows = 3;
    l.streams = streams;
    return l;
  }
  std::int32_t ids[12] = {2, 17, 40, 9, 88, 3, 2, 5, 61, 7, 0, 0};
  std::uint8_t mask[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  TokenBatch batch{2, 6, ids, mask};
  std::int64_t rows[4] = {1, 5, 6, 9};
};

fp16* tensor_data(Model& m, const std::string& name) {
  const Param* p = m.params().find(name);
  REQUIRE(p != nullptr);
  return static_cast<fp16*>(m.mutable_view(*p).data);
}

std::vector<fp16> tensor_copy(Model& m, const std::string& name, std::size_t n) {
  const fp16* p = tensor_data(m, name);
  return std::vector<fp16>(p, p + n);
}

// Steps 2..4 after step 1 (whose first use of the thread pool may allocate) allocate nothing and
// grow neither the arena nor the pool's scratch.
void check_steps_allocate_nothing(ZoTuner& tuner, const Dataset& data, float lr) {
  std::int64_t index[4] = {0, 1, 2, 3};
  tuner.step(data, index, 4, 1, lr);
  const std::size_t arena = tuner.session().arena_bytes();
  const std::size_t scratch = default_pool().scratch_bytes();
  const long allocations = test::allocation_count();
  for (std::uint64_t s = 2; s <= 4; ++s) {
    std::int64_t other[4] = {static_cast<std::int64_t>(s), 5, 6, 7};
    tuner.step(data, other, 4, s, lr);
  }
  CHECK(test::allocation_count() == allocations);
  CHECK(tuner.session().arena_bytes() == arena);
  CHECK(default_pool().scratch_bytes() == scratch);
}

}  // namespace

TEST_SUITE("zo-step") {

TEST_CASE("glob patterns over tensor names") {
  CHECK(glob_match("*", "model.decoder.layers.0.fc1.weight"));
  CHECK(glob_match("*.fc1.*", "model.decoder.layers.0.fc1.weight"));
  CHECK(glob_match("model.decoder.layers.?.fc1.bias", "model.decoder.layers.1.fc1.bias"));
  CHECK_FALSE(glob_match("model.decoder.layers.?.fc1.bias", "model.decoder.layers.10.fc1.bias"));
  CHECK_FALSE(glob_match("*.fc2.*", "model.decoder.layers.0.fc1.weight"));
  CHECK(glob_match("*layers.1*norm*", "model.decoder.layers.1.final_layer_norm.weight"));
  CHECK_FALSE(glob_match("", "x"));
}

TEST_CASE("data order: every epoch a permutation, a pure function of (seed, t)") {
  DataOrder a(10, 42), b(10, 42), c(10, 43);
  std::vector<std::int64_t> seen;
  for (std::int64_t t = 1; t <= 5; ++t) {  // 5 batches of 4 = 2 epochs
    std::int64_t x[4], y[4];
    a.batch(t, 4, x);
    b.batch(t, 4, y);
    CHECK(std::equal(x, x + 4, y));
    seen.insert(seen.end(), x, x + 4);
  }
  std::vector<std::int64_t> epoch0(seen.begin(), seen.begin() + 10);
  std::sort(epoch0.begin(), epoch0.end());
  std::vector<std::int64_t> expect(10);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(epoch0 == expect);
  std::int64_t p[10], q[10];
  a.permutation(0, p);
  c.permutation(0, q);
  CHECK_FALSE(std::equal(p, p + 10, q));
  // Step 3 alone, on a fresh order, is the same as when reached through steps 1 and 2.
  DataOrder fresh(10, 42);
  std::int64_t z[4];
  fresh.batch(3, 4, z);
  CHECK(std::equal(z, z + 4, seen.begin() + 8));
}

TEST_CASE("two-stream forward: -eps swaps the streams; all frozen = the plain forward; near the plain loss") {
  for (Arch arch : {Arch::kOpt, Arch::kRoberta, Arch::kLlama}) {
    CAPTURE(arch_name(arch));
    Fixture f(arch, /*tokenizer=*/false);
    Model model(f.dir);
    const ModelConfig& c = model.config();
    Session session(model, SmallBatch::limits(2));
    const SmallBatch small;
    const TokenBatch& batch = small.batch;
    const std::int64_t* rows = small.rows;
    Capture plain(c.vocab_size), a(c.vocab_size), b(c.vocab_size), frozen(c.vocab_size);
    session.forward_chunks(batch, rows, 4, plain);
    const Perturbation p = Perturbation::pair(77, 1e-3f);
    session.forward_chunks(batch, rows, 4, a, &p);
    const Perturbation q = Perturbation::pair(77, -1e-3f);
    session.forward_chunks(batch, rows, 4, b, &q);
    CHECK(a.logits[0] == b.logits[1]);
    CHECK(a.logits[1] == b.logits[0]);
    CHECK(a.logits[0] != plain.logits[0]);
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < plain.logits[0].size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(a.logits[0][i] - plain.logits[0][i])));
      scale = std::max(scale, static_cast<double>(std::fabs(plain.logits[0][i])));
    }
    CHECK(diff < 0.2 * scale);  // a 1e-3 perturbation moves the logits, a little
    model.params().set_all_trainable(false);
    session.forward_chunks(batch, rows, 4, frozen, &p);
    CHECK(frozen.logits[0] == plain.logits[0]);
    CHECK(frozen.logits[1] == plain.logits[0]);
  }
}

TEST_CASE("S streams: two ± pairs in one forward are the two pairs run alone; S = 1 is stream 0") {
  for (Arch arch : {Arch::kOpt, Arch::kRoberta, Arch::kLlama}) {
    CAPTURE(arch_name(arch));
    Fixture f(arch, /*tokenizer=*/false);
    Model model(f.dir);
    const ModelConfig& c = model.config();
    Session session(model, SmallBatch::limits(4));
    const SmallBatch small;
    const TokenBatch& batch = small.batch;
    const std::int64_t* rows = small.rows;
    // Half the tensors frozen, so that both frozen and perturbed ones are read by 4 streams.
    model.params().set_trainable({"*layers.0.*", "*embed*"});
    Perturbation four;
    four.streams = 4;
    four.seed[0] = four.seed[1] = 77;
    four.seed[2] = four.seed[3] = 78;
    four.scale[0] = four.scale[2] = 1e-3f;
    four.scale[1] = four.scale[3] = -1e-3f;
    Capture all(c.vocab_size), first(c.vocab_size), second(c.vocab_size), one(c.vocab_size);
    session.forward_chunks(batch, rows, 4, all, &four);
    const Perturbation a = Perturbation::pair(77, 1e-3f), b = Perturbation::pair(78, 1e-3f);
    session.forward_chunks(batch, rows, 4, first, &a);
    session.forward_chunks(batch, rows, 4, second, &b);
    Perturbation single;
    single.streams = 1;
    single.seed[0] = 78;
    single.scale[0] = -1e-3f;
    session.forward_chunks(batch, rows, 4, one, &single);
    CHECK(all.logits[0] == first.logits[0]);
    CHECK(all.logits[1] == first.logits[1]);
    CHECK(all.logits[2] == second.logits[0]);
    CHECK(all.logits[3] == second.logits[1]);
    CHECK(one.logits[0] == second.logits[1]);
    CHECK(first.logits[0] != second.logits[0]);
    Perturbation too_many = four;
    too_many.streams = 5;
    CHECK_THROWS_AS(session.forward_chunks(batch, rows, 4, all, &too_many), Error);
  }
}

TEST_CASE("a step updates every trainable tensor as zo_update does, with g from the two losses") {
  Fixture f;
  Model model(f.dir, /*writable=*/true);
  const auto tok = load_tokenizer(f.dir, model.config().model_type);
  const Task task = make_task(f.options(Arch::kOpt), *tok, model.config());
  const Dataset data = load_dataset(f.data, task, *tok);
  ZoOptions zo;
  zo.eps = 1e-2;
  zo.weight_decay = 0.1;
  zo.train_patterns = {"*.fc1.*", "*final_layer_norm*"};
  ZoTuner tuner(model, task, zo, 4, data.longest);
  CHECK(tuner.trainable().size() == 2 * 2 + 2 * 2 + 2);  // fc1 w+b and final_layer_norm w+b per layer, + the last LN
  const std::string frozen_name = "model.decoder.layers.0.fc2.weight";
  const std::string fc1 = "model.decoder.layers.1.fc1.weight";
  const std::string bias = "model.decoder.layers.1.fc1.bias";
  const ModelConfig& c = model.config();
  const std::size_t n_fc1 = static_cast<std::size_t>(c.ffn_dim * c.hidden);
  const auto frozen_before = tensor_copy(model, frozen_name, n_fc1);
  const auto fc1_before = tensor_copy(model, fc1, n_fc1);
  const auto bias_before = tensor_copy(model, bias, static_cast<std::size_t>(c.ffn_dim));
  std::int64_t index[4] = {1, 2, 3, 4};
  const float lr = 1e-2f;
  const std::uint64_t seed = 5;
  const StepResult r = tuner.step(data, index, 4, seed, lr);
  REQUIRE(r.accepted);
  CHECK(r.g == static_cast<float>((r.loss_plus - r.loss_minus) / (2.0 * static_cast<double>(1e-2f))));
  CHECK(tensor_copy(model, frozen_name, n_fc1) == frozen_before);
  // The trainable matrix: exactly zo_update_f16 with decay; the bias: without decay.
  auto expect = fc1_before;
  ZoUpdate u{z_key(seed, fnv1a64(fc1)), sr_key(seed, fnv1a64(fc1)), lr, r.g, 0.1f, 0};
  zo_update_f16_ref(expect.data(), expect.size(), u);
  CHECK(tensor_copy(model, fc1, n_fc1) == expect);
  auto expect_bias = bias_before;
  ZoUpdate ub{z_key(seed, fnv1a64(bias)), sr_key(seed, fnv1a64(bias)), lr, r.g, 0.0f, 0};
  zo_update_f16_ref(expect_bias.data(), expect_bias.size(), ub);
  CHECK(tensor_copy(model, bias, static_cast<std::size_t>(c.ffn_dim)) == expect_bias);
  // The forward reads the updated bias: its fp32 copy was refreshed.
  std::vector<float> f32(static_cast<std::size_t>(c.ffn_dim));
  f16_to_f32(expect_bias.data(), f32.data(), f32.size());
  CHECK(std::memcmp(model.weights().layers[1].up.bias->f32, f32.data(), f32.size() * sizeof(float)) == 0);
}

TEST_CASE("a non-finite loss rejects the step and leaves the weights untouched") {
  Fixture f;
  Model model(f.dir, /*writable=*/true);
  const auto tok = load_tokenizer(f.dir, model.config().model_type);
  const Task task = make_task(f.options(Arch::kOpt), *tok, model.config());
  const Dataset data = load_dataset(f.data, task, *tok);
  ZoTuner tuner(model, task, ZoOptions{}, 4, data.longest);
  // One infinite weight in a frozen-or-not matrix makes every logit NaN.
  const std::string name = "model.decoder.layers.0.fc1.weight";
  tensor_data(model, name)[7] = f32_to_f16_scalar(INFINITY);
  const std::size_t n = static_cast<std::size_t>(model.config().ffn_dim * model.config().hidden);
  const auto before = tensor_copy(model, "model.decoder.layers.1.fc2.weight", n);
  std::int64_t index[4] = {0, 1, 2, 3};
  const StepResult r = tuner.step(data, index, 4, 3, 1e-3f);
  CHECK_FALSE(r.accepted);
  CHECK_FALSE(std::isfinite(r.loss_plus));
  CHECK(tensor_copy(model, "model.decoder.layers.1.fc2.weight", n) == before);
}

// Llama models need the SentencePiece library for their tokenizer (absent in the ARM cross build).
std::vector<Arch> archs_with_tokenizers() {
#ifdef POCKET_HAVE_SENTENCEPIECE
  return {Arch::kOpt, Arch::kRoberta, Arch::kLlama};
#else
  return {Arch::kOpt, Arch::kRoberta};
#endif
}

TEST_CASE("no allocation inside a step: allocation count and arena unchanged after step 1") {
  for (Arch arch : archs_with_tokenizers()) {
    Fixture f(arch);
    Model model(f.dir, /*writable=*/true);
    const auto tok = load_tokenizer(f.dir, model.config().model_type);
    const Task task = make_task(f.options(arch), *tok, model.config());
    const Dataset data = load_dataset(f.data, task, *tok);
    for (bool master : {false, true}) {
      ZoOptions zo;
      zo.master_f32 = master;
      ZoTuner tuner(model, task, zo, 4, data.longest);
      check_steps_allocate_nothing(tuner, data, 1e-3f);
    }
  }
}

// The same for a LoRA-only step (issue 14): the adapters' extra x·Aᵀ rows live in the arena, their
// perturbation and update are in place, so step 2 onwards allocates nothing either. Targets cover
// every Linear kind (attention and MLP) of each architecture.
TEST_CASE("no allocation inside a LoRA step: allocation count and arena unchanged after step 1") {
  for (Arch arch : archs_with_tokenizers()) {
    Fixture f(arch);
    Model model(f.dir);  // read-only: only the model's own adapters are written
    LoraOptions lora;
    lora.rank = 4;
    lora.alpha = 16.0;
    lora.targets = {arch == Arch::kLlama ? "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
                    : arch == Arch::kOpt ? "q_proj,k_proj,v_proj,out_proj,fc1,fc2"
                                         : "query,key,value,dense"};
    model.attach_lora(lora, 5);
    const auto tok = load_tokenizer(f.dir, model.config().model_type);
    const Task task = make_task(f.options(arch), *tok, model.config());
    const Dataset data = load_dataset(f.data, task, *tok);
    ZoOptions zo;
    zo.lora = lora;
    ZoTuner tuner(model, task, zo, 4, data.longest);
    const Param* b = model.params().find(lora_param_name(
        arch == Arch::kOpt ? "model.decoder.layers.0.self_attn.q_proj"
        : arch == Arch::kLlama ? "model.layers.0.self_attn.q_proj"
                               : "roberta.encoder.layer.0.attention.self.query", 'B'));
    REQUIRE(b != nullptr);
    check_steps_allocate_nothing(tuner, data, 1e-2f);
    // The steps ran the LoRA path: B moved off its zero init.
    const auto* bv = static_cast<const float*>(b->view.data);
    bool moved = false;
    for (std::int64_t i = 0; i < b->view.rows * b->view.cols; ++i) moved = moved || bv[i] != 0.0f;
    CHECK_MESSAGE(moved, arch_name(arch));
  }
}

}  // TEST_SUITE

}  // namespace pocket
