// Rotary position embedding (RoPE), HF "rotate half" convention (Llama, Mistral, Qwen, GPT-NeoX):
// dimension i of a head pairs with i + head_dim/2, not with its neighbour i + 1 (GPT-J, Meta's
// original Llama code) — checkpoints converted to HF have their q/k weights permuted for this.
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>
#include <vector>

namespace pocket {

// cos/sin of every angle a[p,i] = p * theta^(-2i/head_dim), p < max_positions, i < head_dim/2.
// Computed as HF does in fp32 (inv_freq and p * inv_freq rounded to float), so positions far out
// see the same angles as the HF reference, not more accurate ones. Built once per model.
struct RopeTable {
  RopeTable(int head_dim, std::int64_t max_positions, float theta = 10000.0f);

  int head_dim;
  std::int64_t max_positions;
  std::vector<float> cos;  // [max_positions, head_dim/2]
  std::vector<float> sin;  // [max_positions, head_dim/2]
};

// x[T, n_heads, head_dim] in place (token rows `row_stride` floats apart, e.g. inside a fused qkv
// buffer); token t is at position pos[t] < table.max_positions. With h = head_dim/2,
// c = cos a[pos[t],i], s = sin a[pos[t],i], for each head and i < h:
//   x'[i]     = x[i] c - x[i+h] s
//   x'[i+h]   = x[i+h] c + x[i] s
// Apply to q (n_heads) and to k (n_heads_kv) separately. Allocates nothing.
void rope_ref(float* x, std::int64_t T, int n_heads, std::int64_t row_stride,
              const std::int32_t* pos, const RopeTable& table);
void rope(float* x, std::int64_t T, int n_heads, std::int64_t row_stride, const std::int32_t* pos,
          const RopeTable& table, ThreadPool& pool = default_pool());

}  // namespace pocket
