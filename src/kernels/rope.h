// Rotary position embedding (RoPE) in its two layouts of a head's dimensions:
//   half         HF's "rotate half" (Llama, Mistral, Qwen, GPT-NeoX checkpoints): dimension i pairs
//                with i + head_dim/2;
//   interleaved  GPT-J's and Meta's original Llama code, and ggml's "normal" RoPE: dimension 2i
//                pairs with 2i + 1, at the angle of HF's pair i.
// llama.cpp's converter permutes the q/k rows of Llama-family checkpoints from the first layout to
// the second (within each head, HF row i goes to 2i and row i + head_dim/2 to 2i + 1), so rotating
// a GGUF file's q and k interleaved gives HF's rotated q and k, permuted the same way within every
// head — and q·k, hence attention, is unchanged. The weights are read as stored, never permuted.
#pragma once

#include "kernels/rope_frequencies.h"
#include "kernels/thread_pool.h"

#include <cstdint>
#include <vector>

namespace pocket {

// cos/sin of every angle a[p,i] = p * inv_freq[i], p < max_positions, i < head_dim/2, with
// inv_freq = theta^(-2i/head_dim) or its `scaling` (rope_scaling.h), each times the scaling's
// attention factor (YaRN; 1 otherwise). Computed as HF does in fp32 (inv_freq and p * inv_freq
// rounded to float), so positions far out see the same angles as the HF reference, not more
// accurate ones. Built once per model.
enum class RopeLayout : std::uint8_t { kHalf, kInterleaved };

struct RopeTable {
  RopeTable(int head_dim, std::int64_t max_positions, float theta = 10000.0f,
            RopeLayout layout = RopeLayout::kHalf, const RopeScaling& scaling = {});

  int head_dim;
  RopeLayout layout;
  std::int64_t max_positions;
  std::vector<float> cos;  // [max_positions, head_dim/2]
  std::vector<float> sin;  // [max_positions, head_dim/2]
};

// x[T, n_heads, head_dim] in place (token rows `row_stride` floats apart, e.g. inside a fused qkv
// buffer); token t is at position pos[t] < table.max_positions. With h = head_dim/2,
// c = cos a[pos[t],i], s = sin a[pos[t],i], for each head and i < h, pairing (a, b) = (i, i + h)
// (kHalf) or (2i, 2i + 1) (kInterleaved):
//   x'[a] = x[a] c - x[b] s
//   x'[b] = x[b] c + x[a] s
// Apply to q (n_heads) and to k (n_heads_kv) separately. Allocates nothing.
void rope_ref(float* x, std::int64_t T, int n_heads, std::int64_t row_stride,
              const std::int32_t* pos, const RopeTable& table);
void rope(float* x, std::int64_t T, int n_heads, std::int64_t row_stride, const std::int32_t* pos,
          const RopeTable& table, ThreadPool& pool = default_pool());

}  // namespace pocket
