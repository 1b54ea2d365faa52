// The parameter table: one Param per tensor a forward pass reads, in binding order.
//
// Everything that walks the model's tensors walks this table (as gemma.cpp's tensor registry and
// ForEachTensor): binding (model_weights.cpp fills it), `pocket init` (the names and shapes to
// write), the ZO step (which tensors are perturbed and updated, with or without weight decay),
// snapshots, fp32 masters and export (the trainable ones), and the side network's frozen head
// (its weights by view). A Param's pid — fnv1a64 of its checkpoint name, computed once here — keys
// its perturbation z, so a parameter is the same random direction whatever reads it.
//
// A Param's data is a WeightView (kernels/weight_view.h): today F16 in the mapped checkpoint; the
// quantized formats fill in other formats behind the same view. Vectors (biases, norm weights)
// are also held as fp32 (`f32`), because the kernels take them in fp32; ParamTable owns those
// copies, and refresh_vector() re-reads one after an update of its stored bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/weight_view.h"

namespace pocket {

enum class ParamKind : std::uint8_t {
  kMatrix,     // the weight of a linear layer: a GEMM operand
  kVector,     // a bias or a norm weight: read as fp32
  kEmbedding,  // a table whose rows are gathered (and the head, when tied to it)
  kAdapter,    // a tensor added for tuning (LoRA): not in the base checkpoint
};

const char* param_kind_name(ParamKind kind);

struct Param {
  std::string name;  // as in the checkpoint
  std::uint64_t pid = 0;  // fnv1a64(name)
  std::vector<std::int64_t> shape;  // as in the checkpoint
  ParamKind kind = ParamKind::kMatrix;
  bool trainable = true;  // a ZO step perturbs and updates it (ParamTable::set_trainable)
  bool decay = false;     // weight decay applies: tensors of two or more dimensions
  // Elements the forward reads, perturbs and updates: the whole tensor, except RoBERTa's
  // token-type table, of which only row 0 is ever used.
  std::int64_t numel = 0;
  WeightView view;  // the stored elements ([rows, cols], vectors [1, numel]); empty in a spec table
  const float* f32 = nullptr;  // kVector: the fp32 copy the forward reads
};

class ParamTable {
 public:
  // Adds a parameter (binding only); the reference stays valid for the table's life.
  Param& add(std::string name, std::vector<std::int64_t> shape, ParamKind kind);
  // Converts the vectors' stored fp16 to their fp32 copies and sets each Param::f32. Called once
  // binding has added every parameter.
  void finish_vectors();

  std::size_t size() const { return params_.size(); }
  auto begin() const { return params_.cbegin(); }
  auto end() const { return params_.cend(); }
  template <class F>
  void for_each(F&& f) const {
    for (const Param& p : params_) f(p);
  }
  template <class F>
  void for_each_trainable(F&& f) const {
    for (const Param& p : params_) {
      if (p.trainable) f(p);
    }
  }
  std::size_t trainable_count() const;
  // The parameter named `name`, or null.
  const Param* find(std::string_view name) const;

  // Marks trainable exactly the parameters whose name matches one of the globs ('*' any run of
  // characters, '?' one); every parameter when `patterns` is empty. A pattern list that matches
  // nothing is a pocket::Error("--train", ...) and changes nothing.
  void set_trainable(const std::vector<std::string>& patterns);
  // Every parameter trainable, or none (a perturbed forward of a frozen model is the plain one).
  void set_all_trainable(bool trainable);
  // Every parameter of `kind` trainable or frozen, the others left as they are.
  void set_kind_trainable(ParamKind kind, bool trainable);

  // The fp32 copies of every vector, contiguous (a two-stream session perturbs them per stream).
  const std::vector<float>& vectors() const { return vectors_; }
  std::int64_t vector_offset(const Param& p) const { return p.f32 - vectors_.data(); }
  // Re-reads p's fp32 copy from its stored (e.g. just updated) F16 or F32 elements.
  void refresh_vector(const Param& p);
  // Bytes of the stored matrices and embeddings (each tensor once, a tied head not twice).
  std::int64_t matrix_bytes() const;

 private:
  std::deque<Param> params_;  // a deque: add() never moves the earlier ones
  std::vector<float> vectors_;
};

// Does `name` match the glob `pattern` ('*' any run of characters, '?' one)?
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace pocket
