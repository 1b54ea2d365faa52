// Adam with bias correction and decoupled weight decay (AdamW, Loshchilov & Hutter), as
// PyTorch's torch.optim.AdamW computes it, for the side network's fp32 parameters. Step t
// (1-based), gradient g:
//   p ← p·(1 − lr·weight_decay)
//   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//   p ← p − lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + eps)
// weight_decay = 0 is plain Adam.
#pragma once

#include <cstdint>

namespace pocket {

struct AdamOptions {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
};

// One step over params[n] with grads[n]; m[n] and v[n] are the moment estimates (zero before the
// first step), updated in place.
void adam_step(float* params, const float* grads, float* m, float* v, std::int64_t n,
               std::int64_t t, const AdamOptions& options);

}  // namespace pocket
