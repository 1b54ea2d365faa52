#include "side/frozen_head.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

#include "io/error.h"
#include "kernels/fp16.h"
#include "side/side_ops.h"

namespace pocket {
namespace {

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

// A vector parameter's fp32 copy as T (empty when the model has no such vector).
template <class T>
std::vector<T> widen(const Param* v) {
  if (v == nullptr) return {};
  return std::vector<T>(v->f32, v->f32 + v->numel);
}

// Rows `rows` of the F16 matrix `w` as T, row by row so that a whole-vocabulary head never needs
// an fp32 copy beside the T one.
template <class T>
std::vector<T> widen_rows(const WeightView& w, const std::vector<std::int64_t>& rows) {
  const std::int64_t cols = w.cols;
  std::vector<T> out(rows.size() * sz(cols));
  std::vector<float> row(sz(cols));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    f16_to_f32(static_cast<const fp16*>(w.data) + rows[i] * w.stride, row.data(), sz(cols));
    std::copy(row.begin(), row.end(), out.begin() + static_cast<std::ptrdiff_t>(i * sz(cols)));
  }
  return out;
}

template <class T>
std::vector<T> widen_matrix(const Linear& l) {
  std::vector<std::int64_t> all(sz(l.out()));
  for (std::int64_t i = 0; i < l.out(); ++i) all[sz(i)] = i;
  return widen_rows<T>(l.weight->view, all);
}

}  // namespace

template <class T>
FrozenHead<T>::FrozenHead(const Model& model, const std::vector<std::int32_t>& rows,
                          std::int64_t max_rows, bool train)
    : max_rows_(max_rows), train_(train) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  if (max_rows < 1) throw Error("frozen head", "max_rows must be at least 1");
  hidden_ = c.hidden;
  embed_ = c.embed_dim;
  eps_ = T(c.norm_eps);
  final_norm_ = c.final_norm;
  rms_ = c.norm == Norm::kRmsNorm;
  project_ = static_cast<bool>(w.project_out);
  mlm_ = c.head == Head::kMlm;
  const std::int64_t d = hidden_, E = embed_;

  std::vector<std::int64_t> selected;
  if (rows.empty()) {
    for (std::int64_t i = 0; i < c.vocab_size; ++i) selected.push_back(i);
  }
  for (std::int32_t r : rows) {
    if (r < 0 || r >= c.vocab_size) {
      throw Error("frozen head", "token id " + std::to_string(r) +
                                     " is outside the vocabulary of " +
                                     std::to_string(c.vocab_size));
    }
    selected.push_back(r);
  }
  outputs_ = static_cast<std::int64_t>(selected.size());
  head_w_ = widen_rows<T>(w.head.weight->view, selected);
  if (w.head.bias != nullptr) {
    for (std::int64_t r : selected) head_b_.push_back(T(w.head.bias->f32[r]));
  }
  if (final_norm_) {
    final_w_ = widen<T>(w.final_norm.weight);
    final_b_ = widen<T>(w.final_norm.bias);  // empty for RMSNorm
  }
  if (project_) {
    project_w_ = widen_matrix<T>(w.project_out);
    project_b_ = widen<T>(w.project_out.bias);
  }
  if (mlm_) {
    mlm_w_ = widen_matrix<T>(w.mlm_dense);
    mlm_b_ = widen<T>(w.mlm_dense.bias);
    mlm_norm_w_ = widen<T>(w.mlm_norm.weight);
    mlm_norm_b_ = widen<T>(w.mlm_norm.bias);
  }

  const std::int64_t R = max_rows;
  if (final_norm_) {
    normed_.resize(sz(R * d));
    norm_mean_.resize(sz(R));
    norm_rstd_.resize(sz(R));
    if (train) input_.resize(sz(R * d));
  }
  if (project_) projected_.resize(sz(R * E));
  if (mlm_) {
    mlm_pre_.resize(sz(R * d));
    mlm_out_.resize(sz(R * d));
    mlm_mean_.resize(sz(R));
    mlm_rstd_.resize(sz(R));
    if (train) mlm_act_.resize(sz(R * d));
  }
  if (train) {
    d_first_.resize(sz(R * std::max(d, E)));
    d_second_.resize(sz(R * std::max(d, E)));
  }
}

template <class T>
void FrozenHead<T>::forward(const T* o, std::int64_t ldo, std::int64_t P, T* logits) {
  assert(P >= 0 && P <= max_rows_);
  const std::int64_t d = hidden_, E = embed_;
  rows_ = P;
  const T* x = o;
  std::int64_t ldx = ldo;
  if (final_norm_) {
    if (train_) {
      for (std::int64_t r = 0; r < P; ++r) {
        std::memcpy(input_.data() + r * d, o + r * ldo, sizeof(T) * sz(d));
      }
    }
    if (rms_) {
      rmsnorm_forward<T>(x, ldx, final_w_.data(), eps_, normed_.data(), norm_rstd_.data(), P, d);
    } else {
      layernorm_forward<T>(x, ldx, final_w_.data(), final_b_.data(), eps_, normed_.data(),
                           norm_mean_.data(), norm_rstd_.data(), P, d);
    }
    x = normed_.data();
    ldx = d;
  }
  if (project_) {
    linear_forward<T>(x, ldx, project_w_.data(), project_b_.empty() ? nullptr : project_b_.data(),
                      projected_.data(), E, P, d, E);
    x = projected_.data();
    ldx = E;
  }
  if (mlm_) {
    T* act = train_ ? mlm_act_.data() : mlm_pre_.data();
    linear_forward<T>(x, ldx, mlm_w_.data(), mlm_b_.empty() ? nullptr : mlm_b_.data(),
                      mlm_pre_.data(), d, P, E, d);
    gelu_forward<T>(mlm_pre_.data(), act, P * d);
    layernorm_forward<T>(act, d, mlm_norm_w_.data(), mlm_norm_b_.data(), eps_, mlm_out_.data(),
                         mlm_mean_.data(), mlm_rstd_.data(), P, d);
    x = mlm_out_.data();
    ldx = d;
  }
  head_in_ = x;
  linear_forward<T>(x, ldx, head_w_.data(), head_b_.empty() ? nullptr : head_b_.data(), logits,
                    outputs_, P, E, outputs_);
}

template <class T>
void FrozenHead<T>::backward(const T* d_logits, T* d_o) {
  assert(train_);
  const std::int64_t P = rows_, d = hidden_, E = embed_;
  T* dx = d_first_.data();   // ∂loss/∂(the current stage's input)
  T* dy = d_second_.data();  // ∂loss/∂(its output)
  // When nothing precedes the head GEMM, its dx is d_o itself.
  const bool head_only = !mlm_ && !project_ && !final_norm_;
  linear_backward<T>(d_logits, outputs_, head_in_, E, head_w_.data(), head_only ? d_o : dx, E,
                     nullptr, nullptr, P, E, outputs_, false, false);
  if (head_only) return;
  if (mlm_) {
    std::swap(dx, dy);
    layernorm_backward<T>(dy, mlm_act_.data(), d, mlm_mean_.data(), mlm_rstd_.data(),
                          mlm_norm_w_.data(), dx, nullptr, nullptr, P, d, false, false);
    gelu_backward<T>(mlm_pre_.data(), dx, dx, P * d);
    std::swap(dx, dy);
    const bool last = !project_ && !final_norm_;
    linear_backward<T>(dy, d, nullptr, 0, mlm_w_.data(), last ? d_o : dx, E, nullptr, nullptr, P, E,
                       d, false, false);
    if (last) return;
  }
  if (project_) {
    std::swap(dx, dy);
    const bool last = !final_norm_;
    linear_backward<T>(dy, E, nullptr, 0, project_w_.data(), last ? d_o : dx, d, nullptr, nullptr,
                       P, d, E, false, false);
    if (last) return;
  }
  if (rms_) {
    rmsnorm_backward<T>(dx, input_.data(), d, norm_rstd_.data(), final_w_.data(), d_o, P, d);
  } else {
    layernorm_backward<T>(dx, input_.data(), d, norm_mean_.data(), norm_rstd_.data(),
                          final_w_.data(), d_o, nullptr, nullptr, P, d, false, false);
  }
}

template class FrozenHead<float>;
template class FrozenHead<double>;

}  // namespace pocket
