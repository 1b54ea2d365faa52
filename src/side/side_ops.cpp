#include "side/side_ops.h"

#include <cassert>
#include <cmath>

#include "side/side_gemm.h"

namespace pocket {

template <class T>
void linear_forward(const T* x, std::int64_t ldx, const T* W, const T* b, T* y, std::int64_t ldy,
                    std::int64_t rows, std::int64_t in, std::int64_t out, bool accumulate) {
  side_gemm<T>(false, true, rows, out, in, T(1), x, ldx, W, in, accumulate ? T(1) : T(0), y, ldy);
  if (b == nullptr) return;
  for (std::int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * ldy;
    for (std::int64_t j = 0; j < out; ++j) yr[j] += b[j];
  }
}

template <class T>
void linear_backward(const T* dy, std::int64_t lddy, const T* x, std::int64_t ldx, const T* W,
                     T* dx, std::int64_t lddx, T* dW, T* db, std::int64_t rows, std::int64_t in,
                     std::int64_t out, bool accumulate_dx, bool accumulate_params) {
  if (dx != nullptr) {
    side_gemm<T>(false, false, rows, in, out, T(1), dy, lddy, W, in, accumulate_dx ? T(1) : T(0),
                 dx, lddx);
  }
  if (dW != nullptr) {
    side_gemm<T>(true, false, out, in, rows, T(1), dy, lddy, x, ldx,
                 accumulate_params ? T(1) : T(0), dW, in);
  }
  if (db != nullptr) {
    if (!accumulate_params) {
      for (std::int64_t j = 0; j < out; ++j) db[j] = T(0);
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* d = dy + r * lddy;
      for (std::int64_t j = 0; j < out; ++j) db[j] += d[j];
    }
  }
}

template <class T>
void layernorm_forward(const T* x, std::int64_t ldx, const T* w, const T* b, T eps, T* y, T* mean,
                       T* rstd, std::int64_t rows, std::int64_t C) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* yr = y + r * C;
    T sum = T(0);
    for (std::int64_t j = 0; j < C; ++j) sum += xr[j];
    const T mu = sum / static_cast<T>(C);
    T var = T(0);
    for (std::int64_t j = 0; j < C; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    const T rs = T(1) / std::sqrt(var / static_cast<T>(C) + eps);
    for (std::int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    if (mean != nullptr) mean[r] = mu;
    if (rstd != nullptr) rstd[r] = rs;
  }
}

template <class T>
void layernorm_backward(const T* dy, const T* x, std::int64_t ldx, const T* mean, const T* rstd,
                        const T* w, T* dx, T* dw, T* db, std::int64_t rows, std::int64_t C,
                        bool accumulate_dx, bool accumulate_params) {
  if (!accumulate_params) {
    for (std::int64_t j = 0; j < C; ++j) {
      if (dw != nullptr) dw[j] = T(0);
      if (db != nullptr) db[j] = T(0);
    }
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;
    const T* xr = x + r * ldx;
    T* dxr = dx + r * C;
    const T mu = mean[r], rs = rstd[r];
    T sum_g = T(0), sum_gx = T(0);
    for (std::int64_t j = 0; j < C; ++j) {
      const T xhat = (xr[j] - mu) * rs;
      const T g = dyr[j] * w[j];
      sum_g += g;
      sum_gx += g * xhat;
      if (dw != nullptr) dw[j] += dyr[j] * xhat;
      if (db != nullptr) db[j] += dyr[j];
    }
    const T mean_g = sum_g / static_cast<T>(C), mean_gx = sum_gx / static_cast<T>(C);
    for (std::int64_t j = 0; j < C; ++j) {
      const T xhat = (xr[j] - mu) * rs;
      const T d = rs * (dyr[j] * w[j] - mean_g - xhat * mean_gx);
      dxr[j] = accumulate_dx ? dxr[j] + d : d;
    }
  }
}

template <class T>
void rmsnorm_forward(const T* x, std::int64_t ldx, const T* w, T eps, T* y, T* rstd,
                     std::int64_t rows, std::int64_t C) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* yr = y + r * C;
    T sum_sq = T(0);
    for (std::int64_t j = 0; j < C; ++j) sum_sq += xr[j] * xr[j];
    const T rs = T(1) / std::sqrt(sum_sq / static_cast<T>(C) + eps);
    for (std::int64_t j = 0; j < C; ++j) yr[j] = xr[j] * rs * w[j];
    if (rstd != nullptr) rstd[r] = rs;
  }
}

template <class T>
void rmsnorm_backward(const T* dy, const T* x, std::int64_t ldx, const T* rstd, const T* w, T* dx,
                      std::int64_t rows, std::int64_t C) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;
    const T* xr = x + r * ldx;
    T* dxr = dx + r * C;
    const T rs = rstd[r];
    T sum_gx = T(0);
    for (std::int64_t j = 0; j < C; ++j) sum_gx += dyr[j] * w[j] * xr[j];
    const T k = rs * rs * rs * sum_gx / static_cast<T>(C);
    for (std::int64_t j = 0; j < C; ++j) dxr[j] = rs * dyr[j] * w[j] - xr[j] * k;
  }
}

template <class T>
void gelu_forward(const T* x, T* y, std::int64_t n) {
  const T inv_sqrt2 = T(0.70710678118654752440);
  for (std::int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * inv_sqrt2));
}

template <class T>
void gelu_backward(const T* x, const T* dy, T* dx, std::int64_t n) {
  const T inv_sqrt2 = T(0.70710678118654752440);
  const T inv_sqrt_2pi = T(0.39894228040143267794);
  for (std::int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * inv_sqrt2));
    const T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

template <class T>
T gate_weight(T alpha, T temperature) {
  return T(1) / (T(1) + std::exp(-alpha / temperature));
}

template <class T>
void gate_mix_forward(const T* s, const T* u, T alpha, T temperature, T* y, std::int64_t n) {
  const T g = gate_weight(alpha, temperature);
  for (std::int64_t i = 0; i < n; ++i) y[i] = g * s[i] + (T(1) - g) * u[i];
}

template <class T>
T gate_mix_backward(const T* dy, const T* s, const T* u, T alpha, T temperature, T* ds, T* du,
                    std::int64_t n) {
  const T g = gate_weight(alpha, temperature);
  T sum = T(0);
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = dy[i];
    sum += d * (s[i] - u[i]);
    du[i] = (T(1) - g) * d;
    ds[i] = g * d;
  }
  return sum * g * (T(1) - g) / temperature;
}

template <class T>
double softmax_cross_entropy(const T* logits, std::int64_t ld, std::int64_t rows, std::int64_t n,
                             const std::int32_t* targets, T grad_scale, T* d_logits,
                             std::int64_t* correct) {
  double loss = 0.0;
  std::int64_t right = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* z = logits + r * ld;
    const std::int32_t t = targets[r];
    assert(t < n);
    if (t < 0) {
      if (d_logits != nullptr) {
        for (std::int64_t j = 0; j < n; ++j) d_logits[r * ld + j] = T(0);
      }
      continue;
    }
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < n; ++j) {
      if (z[j] > z[best]) best = j;
    }
    const double top = static_cast<double>(z[best]);
    double sum = 0.0;
    for (std::int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(z[j]) - top);
    loss += std::log(sum) + top - static_cast<double>(z[t]);
    if (best == t) ++right;
    if (d_logits != nullptr) {
      T* d = d_logits + r * ld;
      for (std::int64_t j = 0; j < n; ++j) {
        const double p = std::exp(static_cast<double>(z[j]) - top) / sum;
        d[j] = static_cast<T>((j == t ? p - 1.0 : p) * static_cast<double>(grad_scale));
      }
    }
  }
  if (correct != nullptr) *correct = right;
  return loss;
}

#define POCKET_SIDE_OPS(T)                                                                         \
  template void linear_forward<T>(const T*, std::int64_t, const T*, const T*, T*, std::int64_t,    \
                                  std::int64_t, std::int64_t, std::int64_t, bool);                 \
  template void linear_backward<T>(const T*, std::int64_t, const T*, std::int64_t, const T*, T*,   \
                                   std::int64_t, T*, T*, std::int64_t, std::int64_t, std::int64_t, \
                                   bool, bool);                                                    \
  template void layernorm_forward<T>(const T*, std::int64_t, const T*, const T*, T, T*, T*, T*,    \
                                     std::int64_t, std::int64_t);                                  \
  template void layernorm_backward<T>(const T*, const T*, std::int64_t, const T*, const T*,        \
                                      const T*, T*, T*, T*, std::int64_t, std::int64_t, bool,      \
                                      bool);                                                       \
  template void rmsnorm_forward<T>(const T*, std::int64_t, const T*, T, T*, T*, std::int64_t,      \
                                   std::int64_t);                                                  \
  template void rmsnorm_backward<T>(const T*, const T*, std::int64_t, const T*, const T*, T*,      \
                                    std::int64_t, std::int64_t);                                   \
  template void gelu_forward<T>(const T*, T*, std::int64_t);                                       \
  template void gelu_backward<T>(const T*, const T*, T*, std::int64_t);                            \
  template T gate_weight<T>(T, T);                                                                 \
  template void gate_mix_forward<T>(const T*, const T*, T, T, T*, std::int64_t);                   \
  template T gate_mix_backward<T>(const T*, const T*, const T*, T, T, T*, T*, std::int64_t);       \
  template double softmax_cross_entropy<T>(const T*, std::int64_t, std::int64_t, std::int64_t,     \
                                           const std::int32_t*, T, T*, std::int64_t*);
POCKET_SIDE_OPS(float)
POCKET_SIDE_OPS(double)
#undef POCKET_SIDE_OPS

}  // namespace pocket
