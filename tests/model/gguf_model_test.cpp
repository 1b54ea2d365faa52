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
