// The residual connection of a transformer block: the block's output added onto the stream.
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// y[n] += x[n]
void residual_add_ref(float* y, const float* x, std::int64_t n);
void residual_add(float* y, const float* x, std::int64_t n, ThreadPool& pool = default_pool());

}  // namespace pocket
