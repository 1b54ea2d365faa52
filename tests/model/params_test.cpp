// The parameter table: what binding puts in it for each family (every checkpoint tensor once, the
// tied head not twice, kinds, pids, decay, views onto the mapping, fp32 copies of the vectors),
// that it lists what `pocket init` writes, and the trainable flags' globs and errors.
#include <doctest/doctest.h>

#include <cstring>
#include <set>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/hash.h"
#include "kernels/fp16.h"
#include "model/model.h"
#include "model/random_model.h"
#include "test_util.h"
#include "tiny_model.h"

namespace pocket {
namespace {

using test::make_tiny;
using test::TempDir;

constexpr Arch kArchs[] = {Arch::kOpt, Arch::kRoberta, Arch::kLlama};

}  // namespace

TEST_CASE("params: every tensor of the checkpoint once, with its kind, pid, decay and view") {
  for (Arch arch : kArchs) {
    CAPTURE(arch_name(arch));
    TempDir dir;
    make_tiny(arch, dir.path());
    const Model model(dir.path());
    const ParamTable& table = model.params();
    const ModelWeights& w = model.weights();
    // The spec table (no checkpoint) lists the same names, shapes and kinds in the same order.
    const ParamTable specs = model_params(model.config());
    REQUIRE(specs.size() == table.size());
    REQUIRE(table.size() == model.checkpoint().all().size());
    auto spec = specs.begin();
    std::set<std::string> names;
    std::int64_t matrix_bytes = 0;
    for (const Param& p : table) {
      CAPTURE(p.name);
      CHECK(spec->name == p.name);
      CHECK(spec->shape == p.shape);
      CHECK(spec->kind == p.kind);
      CHECK_FALSE(spec->view);
      ++spec;
      CHECK(names.insert(p.name).second);
      CHECK(p.pid == fnv1a64(p.name));
      CHECK(p.trainable);
      CHECK(p.decay == (p.shape.size() >= 2));
      // The view is the checkpoint's bytes, in place.
      const TensorView* t = model.checkpoint().find(p.name);
      REQUIRE(t != nullptr);
      CHECK(p.view.data == t->data);
      CHECK(p.view.format == WeightFormat::kF16);
      CHECK(p.view.rows * p.view.cols == p.numel);
      CHECK(p.view.stride == p.view.cols);
      if (p.kind == ParamKind::kVector) {
        // Its fp32 copy is the fp16 widened.
        REQUIRE(p.f32 != nullptr);
        std::vector<float> widened(static_cast<std::size_t>(p.numel));
        f16_to_f32(static_cast<const fp16*>(p.view.data), widened.data(), widened.size());
        CHECK(std::memcmp(widened.data(), p.f32, widened.size() * sizeof(float)) == 0);
        CHECK(table.vector_offset(p) >= 0);
      } else {
        CHECK(p.f32 == nullptr);
        matrix_bytes += static_cast<std::int64_t>(t->nbytes);
      }
    }
    CHECK(table.matrix_bytes() == matrix_bytes);
    // Structure: the head is the embeddings' Param itself when tied, its own otherwise.
    REQUIRE(w.head);
    CHECK((w.head.weight == w.token_embed) == model.config().tie_word_embeddings);
    CHECK(w.token_embed->kind == ParamKind::kEmbedding);
    CHECK(w.layers[0].q.weight->kind == ParamKind::kMatrix);
    CHECK(w.layers[0].q.out() == model.config().n_heads * model.config().head_dim);
    CHECK((w.position_embed != nullptr) == (model.config().positions == Positions::kLearned));
    CHECK(table.find(w.layers[1].down.weight->name) == w.layers[1].down.weight);
    CHECK(table.find("no.such.tensor") == nullptr);
  }
}

TEST_CASE("params: RoBERTa's token-type table is a vector of its row 0, with decay") {
  TempDir dir;
  make_tiny(Arch::kRoberta, dir.path());
  const Model model(dir.path());
  const Param* p = model.weights().token_type0;
  REQUIRE(p != nullptr);
  CHECK(p->kind == ParamKind::kVector);
  CHECK(p->shape == std::vector<std::int64_t>{model.config().type_vocab_size, model.config().hidden});
  CHECK(p->numel == model.config().hidden);
  CHECK(p->decay);
}

TEST_CASE("params: set_trainable marks the globs' matches; no match is an error that changes nothing") {
  TempDir dir;
  make_tiny(Arch::kOpt, dir.path());
  Model model(dir.path());
  ParamTable& table = model.params();
  table.set_trainable({"*.fc1.*", "*layers.0.self_attn.q_proj.weight"});
  std::size_t n = 0;
  table.for_each_trainable([&](const Param& p) {
    ++n;
    CHECK((p.name.find(".fc1.") != std::string::npos ||
           p.name == "model.decoder.layers.0.self_attn.q_proj.weight"));
  });
  CHECK(n == 2 * 2 + 1);  // fc1 weight + bias per layer, one q_proj
  CHECK(table.trainable_count() == n);
  std::string error;
  try {
    table.set_trainable({"nothing*", "x?"});
  } catch (const Error& e) {
    error = e.what();
  }
  CHECK(error == "--train: no tensor of the model matches 'nothing*' 'x?'");
  CHECK(table.trainable_count() == n);
  table.set_trainable({});
  CHECK(table.trainable_count() == table.size());
  table.set_all_trainable(false);
  CHECK(table.trainable_count() == 0);
}

}  // namespace pocket
