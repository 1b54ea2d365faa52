// The side network (MobiLLM ladder, LST-style): a narrow network of width m = d / reduction that
// reads the frozen backbone's hidden states h_0..h_L at every position and adds a learned
// correction to the last one before the frozen head (frozen_head.h). Only the side network
// trains, so the backbone runs forward only, on the device; the server trains this.
//
// Forward per position (σ the logistic function, GELU the exact erf form, LN eps 1e-5):
//   s = down_0 · h_0
//   for ℓ = 1..L:
//     g = σ(α_ℓ / T)
//     s = g·s + (1 − g)·(down_ℓ · h_ℓ + b_ℓ)
//     s = s + fc2_ℓ · GELU(fc1_ℓ · LN_ℓ(s) + c1_ℓ) + c2_ℓ
//   o = h_L + up · LN_out(s)
//
// Parameters live in one flat vector in side_tensors() order (names as in the safetensors file).
// Init (init()): every Linear weight uniform in [−1/√fan_in, +1/√fan_in), element i of tensor
// `name` from  u = (mix64(z_key(seed, fnv1a64(name)) ^ kSideInitDomain) stepped as z_word(·, i)
// >> 11) · 2⁻⁵³  (zrng.h), w = (2u − 1)/√fan_in computed in double: the same bits on every machine.
// Biases 0, LN weights 1 and biases 0, α = 0, up = 0, so an untrained side network leaves the
// frozen model's output exactly as it is.
//
// Usage per batch of `rows` positions: begin(rows); absorb(0, h_0); ...; absorb(L, h_L);
// output(h_L, o); then (train) backward(d_o) writes the gradients of every parameter.
// In train mode absorb() keeps the pointer h (not a copy) for the backward: the caller keeps
// h_0..h_L unchanged until backward() returns. Nothing allocates after the constructor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket {

inline constexpr std::uint64_t kSideInitDomain = 0x53494445494E4954ull;  // "SIDEINIT"

struct SideShape {
  std::int64_t hidden = 0, layers = 0, width = 0, mlp = 0;
  float temperature = 0.1f;
};

// width = hidden / reduction (integer division), mlp = 4·width. pocket::Error for reduction < 1,
// hidden or layers < 1, or a width below 1.
SideShape side_shape(std::int64_t hidden, std::int64_t layers, std::int64_t reduction);

struct SideTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0, numel = 0;  // in the flat parameter vector
};

// Every parameter tensor in a fixed order: side.down.0.weight; per ℓ = 1..L side.down.ℓ.weight,
// side.down.ℓ.bias; side.gate.alpha; per ℓ = 1..L side.block.ℓ.{ln.weight, ln.bias, fc1.weight,
// fc1.bias, fc2.weight, fc2.bias}; side.out.ln.weight, side.out.ln.bias; side.up.weight.
std::vector<SideTensor> side_tensors(const SideShape& shape);
std::int64_t side_param_count(const SideShape& shape);

template <class T>
class SideNet {
 public:
  // Sizes every buffer for batches of up to max_rows positions. train = false keeps only what
  // the forward needs (one state and the temporaries of one layer).
  SideNet(const SideShape& shape, std::int64_t max_rows, bool train);

  const SideShape& shape() const { return shape_; }
  std::int64_t size() const { return static_cast<std::int64_t>(params_.size()); }
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }  // train only; written by backward()

  void init(std::uint64_t seed);

  void begin(std::int64_t rows);  // rows ≤ max_rows
  // Hidden states after layer `layer` (0: the embeddings), h[rows, d] with row stride ldh; layers
  // 0..L in order.
  void absorb(std::int64_t layer, const T* h, std::int64_t ldh);
  // o[rows, d] (row stride ldo) = h_last + up·LN_out(s); o may equal h_last (same stride).
  void output(const T* h_last, std::int64_t ldh, T* o, std::int64_t ldo);
  // Gradients of every parameter from d_o[rows, d] (row stride ldd) of the last forward.
  void backward(const T* d_o, std::int64_t ldd);

 private:
  struct Layer {  // offsets of one layer's tensors in params_ / grads_
    std::int64_t down_w = 0, down_b = 0, ln_w = 0, ln_b = 0, fc1_w = 0, fc1_b = 0, fc2_w = 0,
                 fc2_b = 0;
  };
  // Activation buffers of layer ℓ = 1..L (train: one per layer; inference: one, reused).
  std::int64_t slot(std::int64_t l) const { return train_ ? l - 1 : 0; }
  T* state(std::int64_t l);  // s after layer l (0: down_0·h_0); inference: the one state

  SideShape shape_;
  std::int64_t max_rows_ = 0, rows_ = 0, next_layer_ = 0;
  bool train_ = false;
  std::vector<T> params_, grads_;
  std::int64_t down0_ = 0, alpha_ = 0, out_ln_w_ = 0, out_ln_b_ = 0, up_ = 0;
  std::vector<Layer> layers_;  // index ℓ − 1
  std::vector<const T*> h_;    // train: h_0..h_L of the current batch
  std::vector<std::int64_t> ldh_;
  // Activations, [rows, ·] contiguous per layer slot.
  // Inference keeps one state (the gate mixes and the block adds in place), no statistics, and
  // applies GELU in place: mixed_, act_ and the means/rstds stay empty.
  std::vector<T> states_;                        // s: train (L + 1)·R·m, inference R·m
  std::vector<T> u_;                             // down_ℓ·h_ℓ + b_ℓ          [R, m] per slot
  std::vector<T> mixed_;                         // gate output (train)       [R, m] per layer
  std::vector<T> ln_;                            // LN_ℓ(mixed)               [R, m] per slot
  std::vector<T> ln_mean_, ln_rstd_;             // (train)         [R] per layer
  std::vector<T> pre_;                           // fc1·ln + c1               [R, m_h] per slot
  std::vector<T> act_;                           // GELU(pre) (train)         [R, m_h] per layer
  std::vector<T> out_ln_, out_mean_, out_rstd_;  // LN_out(s) [R, m]; [R], [R] (train)
  // Backward temporaries.
  std::vector<T> d_state_, d_mixed_, d_ln_, d_u_, d_act_;
};

}  // namespace pocket
