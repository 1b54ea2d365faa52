// Scaled dot-product attention of one layer: causal or bidirectional, key padding masks,
// grouped-query heads, and a KV cache longer than the queries.
#pragma once

#include "kernels/thread_pool.h"

#include <cstdint>

namespace pocket {

// Sizes and layouts. Strides are in floats and 0 means "packed": a fused qkv buffer [T, 3C] is
// q = qkv, k = qkv + C, v = qkv + 2C with q_stride = kv_stride = 3C; a KV cache [B, S_max, ...]
// of which the first S positions are filled has kv_batch_stride = S_max * kv_stride.
struct AttentionShape {
  std::int64_t batch = 1;
  std::int64_t q_len = 1;   // T
  std::int64_t kv_len = 1;  // S; S >= T when causal (cached keys come first)
  int n_heads = 1;
  int n_heads_kv = 1;  // divides n_heads; query head h reads kv head h / (n_heads / n_heads_kv)
  int head_dim = 1;
  bool causal = true;
  std::int64_t q_stride = 0;         // q and out: token row to token row; 0 = n_heads * head_dim
  std::int64_t out_stride = 0;       // 0 = n_heads * head_dim
  std::int64_t kv_stride = 0;        // k and v: token row to token row; 0 = n_heads_kv * head_dim
  std::int64_t kv_batch_stride = 0;  // k and v: batch to batch; 0 = kv_len * kv_stride
};

// q[B,T,n_heads,hd], k,v[B,S,n_heads_kv,hd], key_mask[B,S] (1 = attend, 0 = padding; null: all
// attend) -> out[B,T,n_heads,hd]. With g = h / (n_heads / n_heads_kv):
//   score[b,h,t,s] = q[b,t,h,:] · k[b,s,g,:] / sqrt(hd)   for visible s, else -inf
//   out[b,t,h,:]   = sum_s softmax_s(score[b,h,t,:]) v[b,s,g,:]
// s is visible when key_mask[b,s] != 0 and, if causal, s <= t + (S - T) (query t sits at position
// t + S - T of the sequence). A query row that sees no key at all gets zeros, not NaN.
// Online softmax (running max and sum, as flash attention): no [T,S] buffer, no allocation.
// The fast version threads over (batch, head, block of queries) and is bit-identical for any
// thread count.
void attention_ref(const float* q, const float* k, const float* v, const std::uint8_t* key_mask,
                   float* out, const AttentionShape& shape);
void attention(const float* q, const float* k, const float* v, const std::uint8_t* key_mask,
               float* out, const AttentionShape& shape, ThreadPool& pool = default_pool());

}  // namespace pocket
