// The operations of the side network (side_net.h) and of the frozen head (frozen_head.h), each
// with its hand-derived backward. Templated on T: float for training and inference, double for
// the gradient checks against finite differences (tests/side/side_ops_test.cpp). Tensors are
// row-major [rows, C]; a backward's `d_` arguments are gradients of the loss. Nothing allocates.
//
// Backward math (per row; sums Σ_j over the row's C elements, Σ_r over rows):
//   linear     y = x·Wᵀ + b           dx = dy·W   dW = dyᵀ·x   db = Σ_r dy
//   layernorm  x̂ = (x − μ)·r, r = 1/√(var + eps), y = x̂·γ + β
//              dx = r·(ĝ − mean_j(ĝ) − x̂·mean_j(ĝ·x̂)),  ĝ = dy·γ
//              dγ = Σ_r dy·x̂   dβ = Σ_r dy
//   rmsnorm    r = 1/√(mean_j(x²) + eps), y = x·r·w
//              dx = r·ĝ − x·r³·mean_j(ĝ·x),  ĝ = dy·w
//   gelu       y = x·Φ(x)                 dx = dy·(Φ(x) + x·φ(x)),  φ(x) = e^(−x²/2)/√(2π)
//   gate mix   y = g·s + (1 − g)·u, g = σ(α/T)
//              ds = g·dy   du = (1 − g)·dy   dα = Σ dy·(s − u)·g·(1 − g)/T
//   softmax CE loss_r = logsumexp(z_r) − z_r[t_r]   dz_r = (softmax(z_r) − onehot(t_r))·scale
#pragma once

#include <cstdint>

namespace pocket {

// y[rows, out] (row stride ldy) = x[rows, in] (row stride ldx) · W[out, in]ᵀ + b[out]
// (b may be null; accumulate: y += instead of y =).
template <class T>
void linear_forward(const T* x, std::int64_t ldx, const T* W, const T* b, T* y, std::int64_t ldy,
                    std::int64_t rows, std::int64_t in, std::int64_t out, bool accumulate = false);

// Gradients of linear_forward from dy[rows, out] (row stride lddy), x as in the forward:
//   dx[rows, in] (row stride lddx) = dy·W       (or += with accumulate_dx)
//   dW[out, in]                    = dyᵀ·x      (or += with accumulate_params)
//   db[out]                        = Σ_rows dy  (or += with accumulate_params)
// Any of dx, dW, db may be null (not wanted).
template <class T>
void linear_backward(const T* dy, std::int64_t lddy, const T* x, std::int64_t ldx, const T* W,
                     T* dx, std::int64_t lddx, T* dW, T* db, std::int64_t rows, std::int64_t in,
                     std::int64_t out, bool accumulate_dx, bool accumulate_params);

// y[rows, C] = (x − mean)·rstd·w + b, rstd = 1/√(var + eps) (biased var) per row of x (row
// stride ldx); y is contiguous and may not alias x. mean[rows], rstd[rows] receive the row
// statistics for the backward (either may be null in inference).
template <class T>
void layernorm_forward(const T* x, std::int64_t ldx, const T* w, const T* b, T eps, T* y, T* mean,
                       T* rstd, std::int64_t rows, std::int64_t C);

// From dy[rows, C] and the forward's x, mean, rstd: dx (= or += with accumulate_dx; contiguous),
// dw and db (= or += with accumulate_params; either may be null).
template <class T>
void layernorm_backward(const T* dy, const T* x, std::int64_t ldx, const T* mean, const T* rstd,
                        const T* w, T* dx, T* dw, T* db, std::int64_t rows, std::int64_t C,
                        bool accumulate_dx, bool accumulate_params);

// y[rows, C] = x·rstd·w, rstd = 1/√(mean(x²) + eps) per row of x (row stride ldx); rstd[rows]
// for the backward (may be null).
template <class T>
void rmsnorm_forward(const T* x, std::int64_t ldx, const T* w, T eps, T* y, T* rstd,
                     std::int64_t rows, std::int64_t C);

// dx[rows, C] (=) from dy and the forward's x, rstd. The weight is frozen: no dw.
template <class T>
void rmsnorm_backward(const T* dy, const T* x, std::int64_t ldx, const T* rstd, const T* w, T* dx,
                      std::int64_t rows, std::int64_t C);

// y[n] = x·Φ(x) (exact erf GELU); y may equal x.
template <class T>
void gelu_forward(const T* x, T* y, std::int64_t n);

// dx[n] = dy·GELU'(x); dx may equal dy.
template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, std::int64_t n);

// σ(α/T), the gate's weight of the old state.
template <class T>
T gate_weight(T alpha, T temperature);

// y[n] = g·s + (1 − g)·u, g = gate_weight(α, T); y may equal s or u.
template <class T>
void gate_mix_forward(const T* s, const T* u, T alpha, T temperature, T* y, std::int64_t n);

// ds[n] = g·dy, du[n] = (1 − g)·dy (ds may equal dy; du may not); returns dα.
template <class T>
T gate_mix_backward(const T* dy, const T* s, const T* u, T alpha, T temperature, T* ds, T* du,
                    std::int64_t n);

// Softmax cross-entropy over logits[rows, n] (row stride ld) with targets[rows] in [0, n), or
// negative for a row without a target (it adds no loss, no correct count, and a zero gradient).
// Returns Σ_rows −log_softmax(logits_r)[t_r] in double. d_logits (row stride ld, may be null,
// may equal logits) = (softmax − onehot)·grad_scale. correct (may be null) receives the number of
// rows whose argmax (ties: lowest index) is the target.
template <class T>
double softmax_cross_entropy(const T* logits, std::int64_t ld, std::int64_t rows, std::int64_t n,
                             const std::int32_t* targets, T grad_scale, T* d_logits,
                             std::int64_t* correct);

}  // namespace pocket
