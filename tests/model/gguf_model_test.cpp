// Models read from GGUF files: the real stories260K as llama.cpp's converter wrote it against the
// same model's Hugging Face directory, and the one-line errors of GGUF files pocket cannot run.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/tokenizer.h"
#include "model/generate.h"
#include "model/gguf_export.h"
#include "model/model.h"
#include "io/atomic_file.h"
#include "io/sentencepiece_tokenizer.h"
#include "io/tokenizer_files.h"
#include "model/random_model.h"
#include "tiny_model.h"
#include "test_util.h"

namespace pocket {
namespace {

using test::error_of;

std::string stories(const std::string& file) {
  const std::string models = test::models_dir();
  if (models.empty()) return "";
  const std::string path = models + "/" + file;
  return std::filesystem::exists(path) ? path : "";
}

const std::vector<std::int32_t> kIds = {1, 403, 407, 261, 378, 12, 99, 300, 450, 31, 2, 77, 5, 511};

}  // namespace

TEST_CASE("gguf model: stories260K-F16.gguf is the model of stories260K/ (config, logits)") {
  const std::string gguf = stories("stories260K-gguf/stories260K-F16.gguf");
  const std::string dir = stories("stories260K");
  if (gguf.empty() || dir.empty()) {
    MESSAGE("skipped: ../shared/models/stories260K{,-gguf} not found");
    return;
  }
  const Model a(gguf), b(dir);
  CHECK(a.is_gguf());
  const ModelConfig &ca = a.config(), &cb = b.config();
  CHECK(ca.vocab_size == cb.vocab_size);
  CHECK(ca.hidden == cb.hidden);
  CHECK(ca.n_layers == cb.n_layers);
  CHECK(ca.n_heads == cb.n_heads);
  CHECK(ca.n_kv_heads == cb.n_kv_heads);
  CHECK(ca.head_dim == cb.head_dim);
  CHECK(ca.ffn_dim == cb.ffn_dim);
  CHECK(ca.max_positions == cb.max_positions);
  CHECK(ca.norm_eps == cb.norm_eps);
  CHECK(ca.rope_theta == cb.rope_theta);
  CHECK(ca.tie_word_embeddings == cb.tie_word_embeddings);
  CHECK(ca.bos_token_id == cb.bos_token_id);
  CHECK(ca.eos_token_id == cb.eos_token_id);
  CHECK(ca.rope_interleaved);  // llama.cpp permuted q/k
  CHECK(!cb.rope_interleaved);
  CHECK(a.params().size() == b.params().size());
  CHECK(a.weight_file_bytes() > 0);
  CHECK(a.fingerprint() != b.fingerprint());

  // The same F16 weights; only the order of the sums over a head's dimensions in q·k differs
  // (the GGUF heads are permuted), so the logits agree to fp32 rounding.
  const std::vector<float> la = test::all_logits(a, kIds), lb = test::all_logits(b, kIds);
  const double err = test::max_rel_error(la.data(), lb.data(), la.size());
  MESSAGE("stories260K F16 GGUF vs HF directory: max |Δlogit| / max |logit| = " << err);
  CHECK(err < 1e-5);
}

TEST_CASE("gguf model: a GGUF base cannot be opened for tuning") {
  const std::string gguf = stories("stories260K-gguf/stories260K-F16.gguf");
  if (gguf.empty()) {
    MESSAGE("skipped: ../shared/models/stories260K-gguf not found");
    return;
  }
  const std::string e = error_of([&] { Model m(gguf, /*writable=*/true); });
  CHECK(e.find(gguf) == 0);
  CHECK(e.find("read-only") != std::string::npos);
}

}  // namespace pocket

namespace pocket {
namespace {

// A tiny llama GGUF written tensor by tensor (every tensor F32, values from its index), with the
// keys `edit` may change and the tensors `skip` leaves out; type/dims of one tensor overridable.
struct TinyGguf {
  std::string arch = "llama";
  std::string prefix;  // of the hyper-parameter keys; "" = arch
  std::int64_t d = 16, heads = 4, kv = 2, ffn = 24, vocab = 40, layers = 1;
  std::function<void(GgufMetadata&)> extra_keys;
  std::string skip;                          // a tensor left out
  std::string odd_tensor;                    // a tensor with other dims or type
  std::vector<std::int64_t> odd_dims;
  GgmlType odd_type = GgmlType::kF32;

  void write(const std::string& path) const {
    GgufMetadata m;
    m.add_string("general.architecture", arch);
    const std::string arch = prefix.empty() ? this->arch : prefix;
    m.add_u32(arch + ".embedding_length", static_cast<std::uint32_t>(d));
    m.add_u32(arch + ".block_count", static_cast<std::uint32_t>(layers));
    m.add_u32(arch + ".attention.head_count", static_cast<std::uint32_t>(heads));
    m.add_u32(arch + ".attention.head_count_kv", static_cast<std::uint32_t>(kv));
    m.add_u32(arch + ".feed_forward_length", static_cast<std::uint32_t>(ffn));
    m.add_u32(arch + ".context_length", 64);
    m.add_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    if (extra_keys) extra_keys(m);
    const std::int64_t hd = d / heads;
    std::vector<GgufTensorSpec> specs = {{"token_embd.weight", GgmlType::kF32, {d, vocab}},
                                         {"output_norm.weight", GgmlType::kF32, {d}}};
    for (std::int64_t l = 0; l < layers; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      for (const GgufTensorSpec& s : std::vector<GgufTensorSpec>{
               {b + "attn_norm.weight", GgmlType::kF32, {d}},
               {b + "attn_q.weight", GgmlType::kF32, {d, heads * hd}},
               {b + "attn_k.weight", GgmlType::kF32, {d, kv * hd}},
               {b + "attn_v.weight", GgmlType::kF32, {d, kv * hd}},
               {b + "attn_output.weight", GgmlType::kF32, {heads * hd, d}},
               {b + "ffn_norm.weight", GgmlType::kF32, {d}},
               {b + "ffn_gate.weight", GgmlType::kF32, {d, ffn}},
               {b + "ffn_up.weight", GgmlType::kF32, {d, ffn}},
               {b + "ffn_down.weight", GgmlType::kF32, {ffn, d}}}) {
        specs.push_back(s);
      }
    }
    std::vector<GgufTensorSpec> kept;
    for (GgufTensorSpec s : specs) {
      if (s.name == skip) continue;
      if (s.name == odd_tensor) {
        if (!odd_dims.empty()) s.dims = odd_dims;
        s.type = odd_type;
      }
      kept.push_back(s);
    }
    write_gguf(path, m, kept, [](std::size_t i, std::uint8_t* dst, std::size_t n) {
      for (std::size_t b = 0; b < n; ++b) dst[b] = static_cast<std::uint8_t>((b * 13 + i) & 0x3f);
    });
  }
};

std::string open_error(const TinyGguf& g) {
  test::TempDir dir;
  const std::string path = dir.path() + "/m.gguf";
  g.write(path);
  return error_of([&] { Model m(path); });
}

}  // namespace

TEST_CASE("gguf model: a crafted llama file loads; its config comes from the keys") {
  test::TempDir dir;
  const std::string path = dir.path() + "/m.gguf";
  TinyGguf g;
  g.extra_keys = [](GgufMetadata& m) {
    m.add_f32("llama.rope.freq_base", 500000.0f);
    m.add_u32("tokenizer.ggml.bos_token_id", 3);
  };
  g.write(path);
  const Model m(path);
  const ModelConfig& c = m.config();
  CHECK(c.model_type == "llama");
  CHECK(c.hidden == 16);
  CHECK(c.vocab_size == 40);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.head_dim == 4);
  CHECK(c.rope_theta == 500000.0f);
  CHECK(c.bos_token_id == 3);
  CHECK(c.tie_word_embeddings);
  CHECK(c.rope_interleaved);
  CHECK(m.params().find("model.layers.0.self_attn.q_proj.weight")->view.format ==
        WeightFormat::kF32);
}

TEST_CASE("gguf model: files pocket cannot run fail with one line naming the file and the key or "
          "tensor") {
  struct Case {
    const char* what;
    std::function<void(TinyGguf&)> edit;
    std::vector<std::string> phrases;
  };
  const std::vector<Case> cases = {
      {"architecture", [](TinyGguf& g) { g.arch = "gpt2"; },
       {"key 'general.architecture'", "'gpt2' is not supported"}},
      {"missing tensor", [](TinyGguf& g) { g.skip = "blk.0.ffn_up.weight"; },
       {"tensor 'blk.0.ffn_up.weight'", "missing"}},
      {"wrong shape",
       [](TinyGguf& g) {
         g.odd_tensor = "blk.0.attn_k.weight";
         g.odd_dims = {16, 16};
       },
       {"tensor 'blk.0.attn_k.weight'", "has shape [16, 16], expected [16, 8]"}},
      {"unsupported type",
       [](TinyGguf& g) {
         g.odd_tensor = "blk.0.ffn_gate.weight";
         g.odd_dims = {32, 24};
         g.odd_type = GgmlType::kQ4_1;
         g.d = 32;
         g.heads = 8;
       },
       {"tensor 'blk.0.ffn_gate.weight'", "type Q4_1 is not supported"}},
      {"quantized norm",
       [](TinyGguf& g) {
         g.d = 32;
         g.heads = 8;
         g.odd_tensor = "blk.0.attn_norm.weight";
         g.odd_dims = {32};
         g.odd_type = GgmlType::kQ8_0;
       },
       {"tensor 'blk.0.attn_norm.weight'", "must be F32, F16 or BF16"}},
      {"rope scaling",
       [](TinyGguf& g) { g.extra_keys = [](GgufMetadata& m) { m.add_string("llama.rope.scaling.type", "yarn"); }; },
       {"key 'llama.rope.scaling.type'", "not supported"}},
      {"partial rotary",
       [](TinyGguf& g) { g.extra_keys = [](GgufMetadata& m) { m.add_u32("llama.rope.dimension_count", 2); }; },
       {"key 'llama.rope.dimension_count'", "partial rotary"}},
      {"experts",
       [](TinyGguf& g) { g.extra_keys = [](GgufMetadata& m) { m.add_u32("llama.expert_count", 8); }; },
       {"key 'llama.expert_count'", "mixture-of-experts"}},
      {"heads", [](TinyGguf& g) { g.kv = 3; }, {"key 'llama.attention.head_count_kv'"}},
      {"bos out of range",
       [](TinyGguf& g) { g.extra_keys = [](GgufMetadata& m) { m.add_u32("tokenizer.ggml.bos_token_id", 40); }; },
       {"key 'tokenizer.ggml.bos_token_id'", "outside the vocabulary"}},
      {"missing key",
       [](TinyGguf& g) {
         g.arch = "qwen2";
         g.prefix = "llama";
       },
       {"key 'qwen2.embedding_length'"}},
  };
  for (const Case& c : cases) {
    TinyGguf g;
    c.edit(g);
    const std::string e = open_error(g);
    INFO(c.what << ": " << e);
    CHECK(e.find(".gguf") != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
    for (const std::string& p : c.phrases) CHECK(e.find(p) != std::string::npos);
  }
}

}  // namespace pocket

namespace pocket {
namespace {

std::vector<std::int32_t> greedy(const Model& model, const std::vector<std::int32_t>& prompt,
                                 std::int64_t n) {
  SessionLimits limits;
  limits.max_len = 64;
  limits.max_logit_rows = 1;
  limits.kv_cache_len = static_cast<std::int64_t>(prompt.size()) + n;
  Session session(model, limits);
  GenerateOptions options;
  options.max_new_tokens = n;
  options.sampler.temperature = 0.0f;
  std::vector<float> logits(static_cast<std::size_t>(model.config().vocab_size));
  std::vector<std::int32_t> out;
  generate(session, prompt, options, logits.data(), [&](std::int32_t id) {
    out.push_back(id);
    return true;
  });
  return out;
}

}  // namespace

TEST_CASE("gguf model: stories260K-Q8_0.gguf (llama.cpp's) continues 'Once upon a time' with the "
          "F16 model's greedy text") {
  if (!SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece (the tokenizer is part of the check)");
    return;
  }
  const std::string q8 = stories("stories260K-gguf/stories260K-Q8_0.gguf");
  const std::string dir = stories("stories260K");
  if (q8.empty() || dir.empty()) {
    MESSAGE("skipped: ../shared/models/stories260K{,-gguf} not found");
    return;
  }
  const Model a(q8), b(dir);
  const auto tok_a = load_tokenizer(q8, a.config().model_type);
  const auto tok_b = load_tokenizer(dir, b.config().model_type);
  const std::vector<std::int32_t> prompt = tok_a->encode_for_model("Once upon a time");
  REQUIRE(prompt == tok_b->encode_for_model("Once upon a time"));
  const auto ids_a = greedy(a, prompt, 40), ids_b = greedy(b, prompt, 40);
  CHECK(ids_a == ids_b);
  const std::string text = tok_a->decode(ids_a);
  MESSAGE("Q8_0 greedy: " << text);
  CHECK(text.starts_with(", there was a little girl named Lily."));
  const std::vector<float> la = test::all_logits(a, kIds), lb = test::all_logits(b, kIds);
  const double err = test::max_rel_error(la.data(), lb.data(), la.size());
  MESSAGE("stories260K Q8_0 (llama.cpp) vs F16: max |Δlogit| / max |logit| = " << err);
  CHECK(err < 0.05);
}

TEST_CASE("gguf model: pocket quantize writes llama.cpp's own F16 and Q8_0 tensors, byte for byte") {
  if (!SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece (the tokenizer is part of the check)");
    return;
  }
  const std::string dir = stories("stories260K");
  const std::string f16 = stories("stories260K-gguf/stories260K-F16.gguf");
  const std::string q8 = stories("stories260K-gguf/stories260K-Q8_0.gguf");
  if (dir.empty() || f16.empty() || q8.empty()) {
    MESSAGE("skipped: ../shared/models/stories260K{,-gguf} not found");
    return;
  }
  const Model hf(dir);
  test::TempDir tmp;
  for (const auto& [format, theirs] :
       {std::pair{WeightFormat::kF16, f16}, std::pair{WeightFormat::kQ8_0, q8}}) {
    GgufExportOptions options;
    options.format = options.embed_format = format;
    const std::string path = tmp.path() + "/out.gguf";
    const GgufExportReport report = write_model_gguf(hf, path, options);
    const GgufFile ours(path), ref(theirs);
    INFO(weight_format_name(format));
    CHECK(report.tensors == ref.tensors().size());
    CHECK(ours.tensors().size() == ref.tensors().size());
    for (const GgufTensor& t : ref.tensors()) {
      const GgufTensor* o = ours.find_tensor(t.name);
      REQUIRE_MESSAGE(o != nullptr, t.name);
      CHECK_MESSAGE(o->type == t.type, t.name);
      CHECK_MESSAGE(o->dims == t.dims, t.name);
      REQUIRE(o->nbytes == t.nbytes);
      CHECK_MESSAGE(std::memcmp(o->data, t.data, t.nbytes) == 0, t.name << " differs");
    }
    for (const GgufFile::Entry& e : ref.metadata()) {  // the keys llama.cpp reads are there
      if (e.key.starts_with("llama.") || e.key.starts_with("tokenizer.")) {
        CHECK_MESSAGE(ours.find(e.key) != nullptr, e.key);
      }
    }
  }
}

namespace {

// Writes `hf` in each format and returns max |Δlogit| / max |logit| against `hf`'s own logits;
// each file must load back, with its tokenizer.
std::vector<double> round_trip_errors(const Model& hf, const std::vector<WeightFormat>& formats,
                                      std::vector<std::size_t>* fallbacks = nullptr) {
  const std::vector<float> ref = test::all_logits(hf, kIds);
  test::TempDir tmp;
  std::vector<double> errors;
  for (const WeightFormat format : formats) {
    GgufExportOptions options;
    options.format = options.embed_format = format;
    const std::string path = tmp.path() + "/q.gguf";
    const GgufExportReport report = write_model_gguf(hf, path, options);
    if (fallbacks) fallbacks->push_back(report.fallbacks);
    const Model q(path);
    CHECK(q.config().rope_interleaved);
    CHECK(load_tokenizer(path, "llama")->encode("Once upon a time") ==
          load_tokenizer(hf.path(), "llama")->encode("Once upon a time"));
    const std::vector<float> l = test::all_logits(q, kIds);
    errors.push_back(test::max_rel_error(l.data(), ref.data(), l.size()));
    MESSAGE(std::string(weight_format_name(format))
            << " vs F16: max |Δlogit| / max |logit| = " << errors.back());
  }
  return errors;
}

}  // namespace

TEST_CASE("gguf model: quantize round trip on stories260K (Q8_0, Q4_0): loads, tokenizes, and "
          "stays near the F16 logits") {
  if (!SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece (the tokenizer is part of the check)");
    return;
  }
  const std::string dir = stories("stories260K");
  if (dir.empty()) {
    MESSAGE("skipped: ../shared/models/stories260K not found");
    return;
  }
  const Model hf(dir);
  std::vector<std::size_t> fallbacks;
  const std::vector<double> e = round_trip_errors(
      hf, {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K}, &fallbacks);
  // Measured: Q8_0 0.019, Q4_0 0.24 (rows of 64 weights of a 260K model quantize coarsely).
  CHECK(e[0] < 0.05);
  CHECK(e[1] < 0.4);
  CHECK(e[0] < e[1]);
  // Its rows are 64 or 172 wide: no whole Q4_K block, so every matrix falls back (to Q8_0 or
  // F16), and the Q4_K file is the Q8_0 one.
  CHECK(fallbacks[2] == hf.params().size() - 11);  // every matrix; 11 norm vectors
  CHECK(e[2] == e[0]);
}

TEST_CASE("gguf model: quantize round trip on a 256-wide random llama (Q8_0, Q4_0, Q4_K)") {
  if (!SentencePieceTokenizer::available()) {
    MESSAGE("skipped: built without sentencepiece (the tokenizer is part of the check)");
    return;
  }
  test::TempDir dir;
  ModelConfig c = shape_config(Arch::kLlama, "tiny");
  c.hidden = c.embed_dim = 256;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 512;
  write_random_weights(c, 11, dir.path(), 0.05f);
  write_file_atomic(dir.path() + "/config.json", model_config_json(c));
  write_sentencepiece_tokenizer_file(dir.path(), c.vocab_size);
  const Model hf(dir.path());
  std::vector<std::size_t> fallbacks;
  const std::vector<double> e = round_trip_errors(
      hf, {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K}, &fallbacks);
  CHECK(fallbacks == std::vector<std::size_t>{0, 0, 0});
  // 8.5, 4.5 and 4.5 bits per weight. Measured: Q8_0 0.022, Q4_0 0.33, Q4_K 0.22 (its affine
  // sub-blocks with fitted scales beat Q4_0's symmetric ones at the same size).
  CHECK(e[0] < 0.05);
  CHECK(e[1] < 0.5);
  CHECK(e[2] < 0.5);
  CHECK(e[0] < e[2]);
  CHECK(e[2] < e[1]);
}

TEST_CASE("gguf model: quantize refuses what it cannot write, and leaves no file") {
  // Every family has a GGUF architecture now; what is left to refuse is a format pocket only
  // reads, and a directory whose tokenizer the file could not carry.
  test::TempDir tmp;
  const std::string dir = tmp.path() + "/opt";
  std::filesystem::create_directory(dir);
  test::make_tiny(Arch::kOpt, dir);  // config and weights, no tokenizer files
  const Model opt(dir);
  const std::string out = tmp.path() + "/o.gguf";
  GgufExportOptions q6;
  q6.format = WeightFormat::kQ6_K;
  std::string e = test::error_of([&] { write_model_gguf(opt, out, q6); });
  CHECK(e.find("Q6_K is read, not written") != std::string::npos);
  CHECK(!std::filesystem::exists(out));
  e = test::error_of([&] { write_model_gguf(opt, out, {}); });
  CHECK(e.find(dir + ": no tokenizer") == 0);
  CHECK(e.find('\n') == std::string::npos);
  CHECK(!std::filesystem::exists(out));
}

}  // namespace pocket
