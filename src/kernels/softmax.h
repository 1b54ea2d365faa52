// Numerically stable softmax over rows, in place.
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// x[rows,n] in place, over the first `len` entries of each row (0 < len <= n):
//   x[r,i] = exp(x[r,i] - m_r) / sum_{j<len} exp(x[r,j] - m_r),  m_r = max_{j<len} x[r,j]
//   x[r,i] = 0 for len <= i < n (a masked tail, e.g. the future positions of a causal row).
// Subtracting the row max keeps every exp in (0, 1], so nothing overflows.
void softmax_ref(float* x, std::int64_t rows, std::int64_t n, std::int64_t len);
void softmax(float* x, std::int64_t rows, std::int64_t n, std::int64_t len,
             ThreadPool& pool = default_pool());

// The whole row: len = n.
inline void softmax_ref(float* x, std::int64_t rows, std::int64_t n) { softmax_ref(x, rows, n, n); }
inline void softmax(float* x, std::int64_t rows, std::int64_t n,
                    ThreadPool& pool = default_pool()) {
  softmax(x, rows, n, n, pool);
}

}  // namespace pocket
