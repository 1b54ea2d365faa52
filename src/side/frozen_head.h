// The frozen model's head as a differentiable function of the last hidden state o, for training
// a side network (side_net.h) through it. It computes what Session::run_head
// (src/model/model.cpp) does after the last layer:
//   x = final_norm(o)          LayerNorm (w, b) or RMSNorm (w), config.norm_eps; if final_norm
//   x = project_out · x        OPT-350m style, if present
//   x = LN(GELU(mlm_dense·x + b))  RoBERTa's MLM head (LayerNorm mlm_norm, norm_eps), if present
//   logits = head[rows] · x (+ head bias[rows])
// restricted to a list of vocabulary rows (classification: the candidates' token ids) or the
// whole vocabulary (lm). Every weight is frozen, so the backward gives only ∂loss/∂o.
//
// The fp16 matrices it needs are converted to T once in the constructor (the selected head rows
// only): T = double gives an exact reference for gradient checks; T = float trains. Nothing
// allocates after the constructor.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace pocket {

template <class T>
class FrozenHead {
 public:
  // rows: vocabulary rows to score, empty = the full vocabulary. pocket::Error for a row outside
  // the vocabulary or max_rows < 1. train: keep what backward() needs.
  FrozenHead(const Model& model, const std::vector<std::int32_t>& rows, std::int64_t max_rows,
             bool train);

  std::int64_t outputs() const { return outputs_; }

  // logits[P, outputs()] (contiguous) of o[P, hidden] (row stride ldo), P ≤ max_rows.
  void forward(const T* o, std::int64_t ldo, std::int64_t P, T* logits);
  // d_o[P, hidden] (contiguous) from d_logits[P, outputs()] of the last forward (train only).
  void backward(const T* d_logits, T* d_o);

 private:
  std::int64_t hidden_ = 0, embed_ = 0, outputs_ = 0, max_rows_ = 0, rows_ = 0;
  bool train_ = false;
  bool final_norm_ = false, rms_ = false, project_ = false, mlm_ = false;
  T eps_ = T(0);
  std::vector<T> final_w_, final_b_;        // [d]
  std::vector<T> project_w_, project_b_;    // [E, d], [E] or empty
  std::vector<T> mlm_w_, mlm_b_;            // [d, d], [d] or empty
  std::vector<T> mlm_norm_w_, mlm_norm_b_;  // [d]
  std::vector<T> head_w_, head_b_;          // [outputs, E], [outputs] or empty
  // Activations [max_rows, ·]: the input copy and statistics are kept in train mode only.
  std::vector<T> input_, normed_, projected_, mlm_pre_, mlm_act_, mlm_out_;
  std::vector<T> norm_mean_, norm_rstd_, mlm_mean_, mlm_rstd_;
  const T* head_in_ = nullptr;         // the head GEMM's input in the last forward
  std::vector<T> d_first_, d_second_;  // backward temporaries [max_rows, max(d, E)]
};

}  // namespace pocket
