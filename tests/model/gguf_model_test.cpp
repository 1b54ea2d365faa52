// Models read from GGUF files: the real stories260K as llama.cpp's converter wrote it against the
// same model's Hugging Face directory, and the one-line errors of GGUF files pocket cannot run.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "test_util.h"

namespace pocket {
namespace {

std::string stories(const std::string& file) {
  const std::string models = test::models_dir();
  if (models.empty()) return "";
  const std::string path = models + "/" + file;
  return std::filesystem::exists(path) ? path : "";
}

// Logits at every position of one sequence of `ids`.
std::vector<float> all_logits(const Model& model, const std::vector<std::int32_t>& ids) {
  const auto T = static_cast<std::int64_t>(ids.size());
  SessionLimits limits;
  limits.max_len = T;
  limits.max_logit_rows = T;
  Session session(model, limits);
  std::vector<std::int64_t> rows(ids.size());
  for (std::int64_t t = 0; t < T; ++t) rows[t] = t;
  std::vector<float> logits(rows.size() * static_cast<std::size_t>(model.config().vocab_size));
  session.forward({1, T, ids.data(), nullptr}, rows.data(), T, logits.data());
  return logits;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
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
  const std::vector<float> la = all_logits(a, kIds), lb = all_logits(b, kIds);
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
