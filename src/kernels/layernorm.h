// Layer normalisation over the last axis (GPT-2, BERT, OPT).
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// out[rows,C] = (x - mean) / sqrt(var + eps) * w + b, mean and (biased) var over each row of
// x[rows,C]; w[C], b[C] (b may be null: no bias). out may equal x.
void layernorm_ref(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
                   const float* b, float eps);
void layernorm(const float* x, float* out, std::int64_t rows, std::int64_t C, const float* w,
               const float* b, float eps, ThreadPool& pool = default_pool());

}  // namespace pocket
