// Root-mean-square normalisation over the last axis (Llama, Mistral, Qwen).
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// out[rows,C] = x / sqrt(mean(x²) + eps) * w, mean over each row of x[rows,C]; w[C]. As HF's
// LlamaRMSNorm: normalise in fp32, then multiply by the weight. out may equal x.
void rmsnorm_ref(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
                 float eps);
void rmsnorm(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
             float eps, ThreadPool& pool = default_pool());

}  // namespace pocket
