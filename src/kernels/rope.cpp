#include "kernels/rope.h"

#include <cassert>
#include <cmath>

#include "kernels/parallel_rows.h"
#include "kernels/simd.h"

namespace pocket {

RopeTable::RopeTable(int head_dim, std::int64_t max_positions, float theta, RopeLayout layout,
                     const RopeScaling& scaling)
    : head_dim(head_dim), layout(layout), max_positions(max_positions) {
  assert(head_dim > 0 && head_dim % 2 == 0 && max_positions > 0 && theta > 0.0f);
  const int half = head_dim / 2;
  cos.resize(static_cast<std::size_t>(max_positions) * half);
  sin.resize(cos.size());
  const RopeFrequencies freq = rope_frequencies(head_dim, theta, scaling, max_positions);
  for (int i = 0; i < half; ++i) {
    const float inv_freq = freq.inv_freq[i];
    for (std::int64_t p = 0; p < max_positions; ++p) {
      const float angle = static_cast<float>(p) * inv_freq;
      float c = static_cast<float>(std::cos(static_cast<double>(angle)));
      float s = static_cast<float>(std::sin(static_cast<double>(angle)));
      if (freq.attention_factor != 1.0f) {  // HF: cos() * attention_scaling, in fp32
        c *= freq.attention_factor;
        s *= freq.attention_factor;
      }
      cos[p * half + i] = c;
      sin[p * half + i] = s;
    }
  }
}

namespace {

void rope_head_ref(float* x, const float* cos, const float* sin, int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

// Pairs (2i, 2i + 1): the same products and sums as rope_head_ref, on the interleaved layout. Few
// flops next to the GEMMs; the compiler vectorises it as it can.
void rope_head_interleaved(float* x, const float* cos, const float* sin, int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[2 * i], x2 = x[2 * i + 1];
    x[2 * i] = x1 * cos[i] - x2 * sin[i];
    x[2 * i + 1] = x2 * cos[i] + x1 * sin[i];
  }
}

#if !defined(POCKET_SIMD_SCALAR)
// The same products and sums as the reference (no fma), so the two agree bit for bit.
void rope_head_simd(float* x, const float* cos, const float* sin, int half) {
  int i = 0;
  for (; i + kFloatLanes <= half; i += kFloatLanes) {
    const vfloat x1 = vfloat::load_unaligned(x + i), x2 = vfloat::load_unaligned(x + i + half);
    const vfloat c = vfloat::load_unaligned(cos + i), s = vfloat::load_unaligned(sin + i);
    (x1 * c - x2 * s).store_unaligned(x + i);
    (x2 * c + x1 * s).store_unaligned(x + i + half);
  }
  for (; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}
#endif

void check_rope_args([[maybe_unused]] const float* x, [[maybe_unused]] std::int64_t T,
                     [[maybe_unused]] int n_heads, [[maybe_unused]] std::int64_t row_stride,
                     [[maybe_unused]] const std::int32_t* pos,
                     [[maybe_unused]] const RopeTable& table) {
  assert(x && pos && T >= 0 && n_heads > 0);
  assert(row_stride >= static_cast<std::int64_t>(n_heads) * table.head_dim);
  for (std::int64_t t = 0; t < T; ++t) assert(0 <= pos[t] && pos[t] < table.max_positions);
}

}  // namespace

void rope_ref(float* x, std::int64_t T, int n_heads, std::int64_t row_stride,
              const std::int32_t* pos, const RopeTable& table) {
  check_rope_args(x, T, n_heads, row_stride, pos, table);
  const int half = table.head_dim / 2;
  for (std::int64_t t = 0; t < T; ++t) {
    const float* cos = table.cos.data() + static_cast<std::int64_t>(pos[t]) * half;
    const float* sin = table.sin.data() + static_cast<std::int64_t>(pos[t]) * half;
    for (int h = 0; h < n_heads; ++h) {
      float* head = x + t * row_stride + h * table.head_dim;
      if (table.layout == RopeLayout::kInterleaved) {
        rope_head_interleaved(head, cos, sin, half);
      } else {
        rope_head_ref(head, cos, sin, half);
      }
    }
  }
}

void rope(float* x, std::int64_t T, int n_heads, std::int64_t row_stride, const std::int32_t* pos,
          const RopeTable& table, ThreadPool& pool) {
  check_rope_args(x, T, n_heads, row_stride, pos, table);
  const int half = table.head_dim / 2;
  parallel_rows(pool, T, 2 * static_cast<std::int64_t>(n_heads) * table.head_dim,
                [&](std::int64_t begin, std::int64_t end) {
                  for (std::int64_t t = begin; t < end; ++t) {
                    const float* cos = table.cos.data() + static_cast<std::int64_t>(pos[t]) * half;
                    const float* sin = table.sin.data() + static_cast<std::int64_t>(pos[t]) * half;
                    for (int h = 0; h < n_heads; ++h) {
                      float* head = x + t * row_stride + h * table.head_dim;
                      if (table.layout == RopeLayout::kInterleaved) {
                        rope_head_interleaved(head, cos, sin, half);
                        continue;
                      }
#if defined(POCKET_SIMD_SCALAR)
                      rope_head_ref(head, cos, sin, half);
#else
                      rope_head_simd(head, cos, sin, half);
#endif
                    }
                  }
                });
}

}  // namespace pocket
