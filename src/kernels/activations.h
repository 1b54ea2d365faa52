// Element-wise activation functions. Each maps x[n] to out[n]; out may equal x (in place).
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// out = 0.5 x (1 + erf(x / sqrt(2)))   exact GELU: HF "gelu" (BERT, OPT's fc uses ReLU)
void gelu_ref(const float* x, float* out, std::int64_t n);
void gelu(const float* x, float* out, std::int64_t n, ThreadPool& pool = default_pool());

// out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))   HF "gelu_new" / "gelu_pytorch_tanh"
// (GPT-2); within about 5e-4 of the exact form.
void gelu_tanh_ref(const float* x, float* out, std::int64_t n);
void gelu_tanh(const float* x, float* out, std::int64_t n, ThreadPool& pool = default_pool());

// out = max(x, 0)
void relu_ref(const float* x, float* out, std::int64_t n);
void relu(const float* x, float* out, std::int64_t n, ThreadPool& pool = default_pool());

// out = x * sigmoid(x) = x / (1 + exp(-x))   SiLU / swish (Llama's gated MLP)
void silu_ref(const float* x, float* out, std::int64_t n);
void silu(const float* x, float* out, std::int64_t n, ThreadPool& pool = default_pool());

}  // namespace pocket
