#include "side/side_net.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "io/error.h"
#include "kernels/zrng.h"
#include "side/side_ops.h"

namespace pocket {
namespace {

constexpr float kSideNormEps = 1e-5f;

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

}  // namespace

SideShape side_shape(std::int64_t hidden, std::int64_t layers, std::int64_t reduction) {
  if (reduction < 1) {
    throw Error("side network", "reduction " + std::to_string(reduction) + " is below 1");
  }
  if (hidden < 1 || layers < 1) {
    throw Error("side network", "a backbone of hidden size " + std::to_string(hidden) + " and " +
                                    std::to_string(layers) + " layers has nothing to read");
  }
  SideShape s;
  s.hidden = hidden;
  s.layers = layers;
  s.width = hidden / reduction;
  if (s.width < 1) {
    throw Error("side network", "reduction " + std::to_string(reduction) +
                                    " leaves no width of hidden size " + std::to_string(hidden));
  }
  s.mlp = 4 * s.width;
  return s;
}

std::vector<SideTensor> side_tensors(const SideShape& shape) {
  const std::int64_t d = shape.hidden, m = shape.width, mh = shape.mlp, L = shape.layers;
  std::vector<SideTensor> out;
  std::int64_t offset = 0;
  auto add = [&](std::string name, std::vector<std::int64_t> dims) {
    std::int64_t numel = 1;
    for (std::int64_t x : dims) numel *= x;
    out.push_back({std::move(name), std::move(dims), offset, numel});
    offset += numel;
  };
  add("side.down.0.weight", {m, d});
  for (std::int64_t l = 1; l <= L; ++l) {
    const std::string p = "side.down." + std::to_string(l) + ".";
    add(p + "weight", {m, d});
    add(p + "bias", {m});
  }
  add("side.gate.alpha", {L});
  for (std::int64_t l = 1; l <= L; ++l) {
    const std::string p = "side.block." + std::to_string(l) + ".";
    add(p + "ln.weight", {m});
    add(p + "ln.bias", {m});
    add(p + "fc1.weight", {mh, m});
    add(p + "fc1.bias", {mh});
    add(p + "fc2.weight", {m, mh});
    add(p + "fc2.bias", {m});
  }
  add("side.out.ln.weight", {m});
  add("side.out.ln.bias", {m});
  add("side.up.weight", {d, m});
  return out;
}

std::int64_t side_param_count(const SideShape& shape) {
  const std::vector<SideTensor> t = side_tensors(shape);
  return t.back().offset + t.back().numel;
}

template <class T>
SideNet<T>::SideNet(const SideShape& shape, std::int64_t max_rows, bool train)
    : shape_(shape), max_rows_(max_rows), train_(train) {
  if (shape.hidden < 1 || shape.layers < 1 || shape.width < 1 || shape.mlp < 1 ||
      !(shape.temperature > 0.0f) || !std::isfinite(shape.temperature)) {
    throw Error("side network", "invalid shape (hidden " + std::to_string(shape.hidden) +
                                    ", layers " + std::to_string(shape.layers) + ", width " +
                                    std::to_string(shape.width) + ", mlp " +
                                    std::to_string(shape.mlp) + ", temperature " +
                                    std::to_string(shape.temperature) + ")");
  }
  if (max_rows < 1) throw Error("side network", "max_rows must be at least 1");
  const std::int64_t L = shape.layers, R = max_rows, m = shape.width, mh = shape.mlp;
  params_.assign(sz(side_param_count(shape)), T(0));
  layers_.resize(sz(L));
  for (const SideTensor& t : side_tensors(shape)) {
    const std::string& n = t.name;
    if (n == "side.down.0.weight") down0_ = t.offset;
    if (n == "side.gate.alpha") alpha_ = t.offset;
    if (n == "side.out.ln.weight") out_ln_w_ = t.offset;
    if (n == "side.out.ln.bias") out_ln_b_ = t.offset;
    if (n == "side.up.weight") up_ = t.offset;
    for (std::int64_t l = 1; l <= L; ++l) {
      Layer& y = layers_[sz(l - 1)];
      const std::string down = "side.down." + std::to_string(l) + ".";
      const std::string block = "side.block." + std::to_string(l) + ".";
      if (n == down + "weight") y.down_w = t.offset;
      if (n == down + "bias") y.down_b = t.offset;
      if (n == block + "ln.weight") y.ln_w = t.offset;
      if (n == block + "ln.bias") y.ln_b = t.offset;
      if (n == block + "fc1.weight") y.fc1_w = t.offset;
      if (n == block + "fc1.bias") y.fc1_b = t.offset;
      if (n == block + "fc2.weight") y.fc2_w = t.offset;
      if (n == block + "fc2.bias") y.fc2_b = t.offset;
    }
  }
  const std::int64_t slots = train ? L : 1;
  states_.resize(sz((train ? L + 1 : 1) * R * m));
  u_.resize(sz(slots * R * m));
  ln_.resize(sz(slots * R * m));
  pre_.resize(sz(slots * R * mh));
  out_ln_.resize(sz(R * m));
  if (train) {
    grads_.assign(params_.size(), T(0));
    h_.assign(sz(L + 1), nullptr);
    ldh_.assign(sz(L + 1), 0);
    mixed_.resize(sz(L * R * m));
    ln_mean_.resize(sz(L * R));
    ln_rstd_.resize(sz(L * R));
    act_.resize(sz(L * R * mh));
    out_mean_.resize(sz(R));
    out_rstd_.resize(sz(R));
    d_state_.resize(sz(R * m));
    d_mixed_.resize(sz(R * m));
    d_ln_.resize(sz(R * m));
    d_u_.resize(sz(R * m));
    d_act_.resize(sz(R * mh));
  }
}

template <class T>
void SideNet<T>::init(std::uint64_t seed) {
  std::fill(params_.begin(), params_.end(), T(0));
  for (const SideTensor& t : side_tensors(shape_)) {
    T* p = params_.data() + t.offset;
    const std::string& n = t.name;
    const auto ends_with = [&](const char* tail) {
      const std::size_t k = std::strlen(tail);
      return n.size() >= k && n.compare(n.size() - k, k, tail) == 0;
    };
    if (ends_with("ln.weight")) {
      std::fill(p, p + t.numel, T(1));
    } else if (ends_with(".weight") && n != "side.up.weight") {
      const double bound = 1.0 / std::sqrt(static_cast<double>(t.shape[1]));  // 1/√fan_in
      const std::uint64_t key = mix64(z_key(seed, fnv1a64(n)) ^ kSideInitDomain);
      for (std::int64_t i = 0; i < t.numel; ++i) {
        const double u =
            static_cast<double>(z_word(key, static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
        p[i] = static_cast<T>((2.0 * u - 1.0) * bound);
      }
    }
  }
}

template <class T>
T* SideNet<T>::state(std::int64_t l) {
  return states_.data() + (train_ ? l : 0) * max_rows_ * shape_.width;
}

template <class T>
void SideNet<T>::begin(std::int64_t rows) {
  assert(rows >= 0 && rows <= max_rows_);
  rows_ = rows;
  next_layer_ = 0;
}

template <class T>
void SideNet<T>::absorb(std::int64_t layer, const T* h, std::int64_t ldh) {
  assert(layer == next_layer_ && layer <= shape_.layers);
  ++next_layer_;
  const std::int64_t R = rows_, d = shape_.hidden, m = shape_.width, mh = shape_.mlp;
  const T* P = params_.data();
  if (train_) {
    h_[sz(layer)] = h;
    ldh_[sz(layer)] = ldh;
  }
  if (layer == 0) {
    linear_forward<T>(h, ldh, P + down0_, nullptr, state(0), m, R, d, m);
    return;
  }
  const Layer& w = layers_[sz(layer - 1)];
  const std::int64_t k = slot(layer);
  T* u = u_.data() + k * max_rows_ * m;
  T* ln = ln_.data() + k * max_rows_ * m;
  T* pre = pre_.data() + k * max_rows_ * mh;
  T* s = state(layer);
  // Train keeps the gate's output and GELU's output for the backward; inference works in place.
  T* mixed = train_ ? mixed_.data() + k * max_rows_ * m : s;
  T* act = train_ ? act_.data() + k * max_rows_ * mh : pre;
  T* mean = train_ ? ln_mean_.data() + k * max_rows_ : nullptr;
  T* rstd = train_ ? ln_rstd_.data() + k * max_rows_ : nullptr;

  linear_forward<T>(h, ldh, P + w.down_w, P + w.down_b, u, m, R, d, m);
  gate_mix_forward<T>(state(layer - 1), u, P[alpha_ + layer - 1], T(shape_.temperature), mixed,
                      R * m);
  layernorm_forward<T>(mixed, m, P + w.ln_w, P + w.ln_b, T(kSideNormEps), ln, mean, rstd, R, m);
  linear_forward<T>(ln, m, P + w.fc1_w, P + w.fc1_b, pre, mh, R, m, mh);
  gelu_forward<T>(pre, act, R * mh);
  if (mixed != s) std::memcpy(s, mixed, sizeof(T) * sz(R * m));
  linear_forward<T>(act, mh, P + w.fc2_w, P + w.fc2_b, s, m, R, mh, m, /*accumulate=*/true);
}

template <class T>
void SideNet<T>::output(const T* h_last, std::int64_t ldh, T* o, std::int64_t ldo) {
  assert(next_layer_ == shape_.layers + 1);
  const std::int64_t R = rows_, d = shape_.hidden, m = shape_.width;
  const T* P = params_.data();
  layernorm_forward<T>(state(shape_.layers), m, P + out_ln_w_, P + out_ln_b_, T(kSideNormEps),
                       out_ln_.data(), train_ ? out_mean_.data() : nullptr,
                       train_ ? out_rstd_.data() : nullptr, R, m);
  if (o != h_last) {
    for (std::int64_t r = 0; r < R; ++r)
      std::memcpy(o + r * ldo, h_last + r * ldh, sizeof(T) * sz(d));
  }
  linear_forward<T>(out_ln_.data(), m, P + up_, nullptr, o, ldo, R, m, d, /*accumulate=*/true);
}

template <class T>
void SideNet<T>::backward(const T* d_o, std::int64_t ldd) {
  assert(train_ && next_layer_ == shape_.layers + 1);
  const std::int64_t R = rows_, d = shape_.hidden, m = shape_.width, mh = shape_.mlp;
  const std::int64_t L = shape_.layers;
  const T* P = params_.data();
  T* G = grads_.data();
  const T temperature = T(shape_.temperature);
  // o = h_L + up·LN_out(s_L)
  linear_backward<T>(d_o, ldd, out_ln_.data(), m, P + up_, d_ln_.data(), m, G + up_, nullptr, R, m,
                     d, false, false);
  layernorm_backward<T>(d_ln_.data(), state(L), m, out_mean_.data(), out_rstd_.data(),
                        P + out_ln_w_, d_state_.data(), G + out_ln_w_, G + out_ln_b_, R, m, false,
                        false);
  for (std::int64_t l = L; l >= 1; --l) {
    const Layer& w = layers_[sz(l - 1)];
    const std::int64_t k = l - 1;
    const T* mixed = mixed_.data() + k * max_rows_ * m;
    // s_l = mixed + fc2·GELU(fc1·LN(mixed) + c1) + c2, with d_state_ = ∂loss/∂s_l.
    linear_backward<T>(d_state_.data(), m, act_.data() + k * max_rows_ * mh, mh, P + w.fc2_w,
                       d_act_.data(), mh, G + w.fc2_w, G + w.fc2_b, R, mh, m, false, false);
    gelu_backward<T>(pre_.data() + k * max_rows_ * mh, d_act_.data(), d_act_.data(), R * mh);
    linear_backward<T>(d_act_.data(), mh, ln_.data() + k * max_rows_ * m, m, P + w.fc1_w,
                       d_ln_.data(), m, G + w.fc1_w, G + w.fc1_b, R, m, mh, false, false);
    std::memcpy(d_mixed_.data(), d_state_.data(), sizeof(T) * sz(R * m));  // the residual
    layernorm_backward<T>(d_ln_.data(), mixed, m, ln_mean_.data() + k * max_rows_,
                          ln_rstd_.data() + k * max_rows_, P + w.ln_w, d_mixed_.data(), G + w.ln_w,
                          G + w.ln_b, R, m, /*accumulate_dx=*/true, false);
    // mixed = g·s_{l−1} + (1 − g)·u_l
    const T* u = u_.data() + k * max_rows_ * m;
    G[alpha_ + l - 1] = gate_mix_backward<T>(d_mixed_.data(), state(l - 1), u, P[alpha_ + l - 1],
                                             temperature, d_state_.data(), d_u_.data(), R * m);
    linear_backward<T>(d_u_.data(), m, h_[sz(l)], ldh_[sz(l)], P + w.down_w, nullptr, 0,
                       G + w.down_w, G + w.down_b, R, d, m, false, false);
  }
  linear_backward<T>(d_state_.data(), m, h_[0], ldh_[0], P + down0_, nullptr, 0, G + down0_,
                     nullptr, R, d, m, false, false);
}

template class SideNet<float>;
template class SideNet<double>;

}  // namespace pocket
