#include "kernels/attention.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "kernels/simd.h"
#include "kernels/thread_pool.h"

namespace pocket {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Strides with the zeros replaced by the packed defaults.
struct Layout {
  std::int64_t q_row, out_row, kv_row, kv_batch;
};

Layout resolve_layout(const AttentionShape& s) {
  Layout l;
  l.q_row = s.q_stride ? s.q_stride : static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  l.out_row = s.out_stride ? s.out_stride : static_cast<std::int64_t>(s.n_heads) * s.head_dim;
  l.kv_row = s.kv_stride ? s.kv_stride : static_cast<std::int64_t>(s.n_heads_kv) * s.head_dim;
  l.kv_batch = s.kv_batch_stride ? s.kv_batch_stride : s.kv_len * l.kv_row;
  return l;
}

void check_attention_args([[maybe_unused]] const float* q, [[maybe_unused]] const float* k,
                          [[maybe_unused]] const float* v, [[maybe_unused]] float* out,
                          [[maybe_unused]] const AttentionShape& s,
                          [[maybe_unused]] const Layout& l) {
  assert(q && k && v && out);
  assert(s.batch >= 0 && s.q_len >= 0 && s.kv_len >= 0 && s.head_dim > 0);
  assert(s.n_heads > 0 && s.n_heads_kv > 0 && s.n_heads % s.n_heads_kv == 0);
  assert(!s.causal || s.kv_len >= s.q_len);
  assert(l.q_row >= static_cast<std::int64_t>(s.n_heads) * s.head_dim);
  assert(l.out_row >= static_cast<std::int64_t>(s.n_heads) * s.head_dim);
  assert(l.kv_row >= static_cast<std::int64_t>(s.n_heads_kv) * s.head_dim);
  assert(l.kv_batch >= s.kv_len * l.kv_row || s.batch <= 1);
}

// One query row against its keys: the pointers are already at (b, t, h) for q and out and at
// (b, s = 0, g) for k and v. Only keys s < n_keys (the causal limit) and mask[s] != 0 are seen.
struct RowTask {
  const float* q;
  const float* k;
  const float* v;
  const std::uint8_t* mask;  // [S] or null
  float* out;                // [hd], also the running (unnormalised) accumulator
  std::int64_t n_keys;
  std::int64_t kv_row;
  int head_dim;
  float scale;
};

// Online softmax one key at a time: m is the running max of the scores, l = sum exp(score - m),
// out = sum exp(score - m) v; when a larger score arrives, l and out are rescaled by exp(m_old -
// m_new). At the end out / l is the softmax-weighted sum of v.
void attend_row_ref(const RowTask& r) {
  const int hd = r.head_dim;
  std::fill(r.out, r.out + hd, 0.0f);
  float m = kNegInf, l = 0.0f;
  for (std::int64_t s = 0; s < r.n_keys; ++s) {
    if (r.mask && !r.mask[s]) continue;
    const float* key = r.k + s * r.kv_row;
    float dot = 0.0f;
    for (int i = 0; i < hd; ++i) dot += r.q[i] * key[i];
    const float score = dot * r.scale;
    if (score > m) {
      const float correction = std::exp(m - score);  // exp(-inf) = 0 on the first key
      l *= correction;
      for (int i = 0; i < hd; ++i) r.out[i] *= correction;
      m = score;
    }
    const float p = std::exp(score - m);
    const float* value = r.v + s * r.kv_row;
    l += p;
    for (int i = 0; i < hd; ++i) r.out[i] += p * value[i];
  }
  // l == 0 exactly when no key was visible: the row stays zero.
  if (l > 0.0f) {
    const float inv_l = 1.0f / l;
    for (int i = 0; i < hd; ++i) r.out[i] *= inv_l;
  }
}

#if !defined(POCKET_SIMD_SCALAR)
// Keys per step of the vector version. One block: the scores of its keys, one vector exp over
// them, at most one rescale of the accumulator, then the weighted sum of their values. A stack
// array, so there is still no allocation.
constexpr int kKeyBlock = 64;
static_assert(kKeyBlock % kFloatLanes == 0);

// The lanes of a partial q·k over the whole registers of a head (their sum is the dot product
// up to the tail). NV > 0: head_dim = NV * kFloatLanes, unrolled; NV = 0: any head_dim.
template <int NV>
vfloat dot_lanes(const float* q, const float* k, int hd) {
  vfloat acc = vfloat::load_unaligned(q) * vfloat::load_unaligned(k);
  if constexpr (NV > 0) {
#pragma GCC unroll 16
    for (int i = 1; i < NV; ++i) {
      const int o = i * kFloatLanes;
      acc = fmadd(vfloat::load_unaligned(q + o), vfloat::load_unaligned(k + o), acc);
    }
  } else {
    for (int o = kFloatLanes; o + kFloatLanes <= hd; o += kFloatLanes) {
      acc = fmadd(vfloat::load_unaligned(q + o), vfloat::load_unaligned(k + o), acc);
    }
  }
  return acc;
}

// The products of the tail past the last whole register (head_dim % kFloatLanes of them).
float dot_tail(const float* q, const float* k, int hd) {
  float sum = 0.0f;
  for (int i = hd - hd % kFloatLanes; i < hd; ++i) sum += q[i] * k[i];
  return sum;
}

// p[0, n) = scaled scores of keys s0 .. s0+n-1, -inf for masked keys; returns their max.
// One horizontal sum per key: xsimd 8.1's haddp (all lanes of several registers at once) returns
// its lanes permuted on AVX-512, so it is not used.
template <int NV>
float block_scores(const RowTask& r, std::int64_t s0, int n, float* p) {
  const int hd = r.head_dim;
  float max = kNegInf;
  for (int j = 0; j < n; ++j) {
    const std::int64_t s = s0 + j;
    if (r.mask && !r.mask[s]) {
      p[j] = kNegInf;  // never read: a padding slot may hold garbage
      continue;
    }
    const float* key = r.k + s * r.kv_row;
    const float dot = hd >= kFloatLanes ? reduce_sum(dot_lanes<NV>(r.q, key, hd)) : 0.0f;
    p[j] = (dot + dot_tail(r.q, key, hd)) * r.scale;
    max = std::max(max, p[j]);
  }
  return max;
}

// p[0, n) = exp(p - m); returns their sum. exp(-inf) = 0 for masked keys. The last register is
// filled up with -inf (p has room: kKeyBlock is a whole number of registers), so the tail takes
// the vector exp too.
float block_exp(float* p, int n, float m) {
  const int padded = (n + kFloatLanes - 1) / kFloatLanes * kFloatLanes;
  std::fill(p + n, p + padded, kNegInf);
  const vfloat vm(m);
  vfloat sum(0.0f);
  for (int j = 0; j < padded; j += kFloatLanes) {
    const vfloat e = xsimd::exp(vfloat::load_aligned(p + j) - vm);
    e.store_aligned(p + j);
    sum += e;
  }
  return reduce_sum(sum);
}

// The vector form of attend_row_ref, a block of keys at a time. NV > 0: head_dim = NV *
// kFloatLanes and the accumulator lives in registers; NV = 0: any head_dim, accumulated in out.
template <int NV>
void attend_row_simd(const RowTask& r) {
  const int hd = r.head_dim;
  constexpr int kAccRegs = NV > 0 ? NV : 1;
  vfloat acc[kAccRegs];
  for (auto& a : acc) a = vfloat(0.0f);
  if constexpr (NV == 0) std::fill(r.out, r.out + hd, 0.0f);

  float m = kNegInf, l = 0.0f;
  alignas(64) float p[kKeyBlock];
  for (std::int64_t s0 = 0; s0 < r.n_keys; s0 += kKeyBlock) {
    const int n = static_cast<int>(std::min<std::int64_t>(kKeyBlock, r.n_keys - s0));
    const float block_max = block_scores<NV>(r, s0, n, p);
    if (block_max == kNegInf) continue;  // every key of the block masked
    const float new_m = std::max(m, block_max);
    const float correction = std::exp(m - new_m);  // 0 on the first visible block, where l = 0
    l = l * correction + block_exp(p, n, new_m);
    m = new_m;

    if constexpr (NV > 0) {
      if (correction != 1.0f) {
        for (auto& a : acc) a *= correction;
      }
      for (int j = 0; j < n; ++j) {
        if (p[j] == 0.0f) continue;  // masked: never touch its v (padding may hold garbage)
        const vfloat w(p[j]);
        const float* value = r.v + (s0 + j) * r.kv_row;
#pragma GCC unroll 16
        for (int i = 0; i < NV; ++i) {
          acc[i] = fmadd(w, vfloat::load_unaligned(value + i * kFloatLanes), acc[i]);
        }
      }
    } else {
      if (correction != 1.0f) {
        for (int i = 0; i < hd; ++i) r.out[i] *= correction;
      }
      for (int j = 0; j < n; ++j) {
        if (p[j] == 0.0f) continue;
        const vfloat w(p[j]);
        const float* value = r.v + (s0 + j) * r.kv_row;
        int i = 0;
        for (; i + kFloatLanes <= hd; i += kFloatLanes) {
          fmadd(w, vfloat::load_unaligned(value + i), vfloat::load_unaligned(r.out + i))
              .store_unaligned(r.out + i);
        }
        for (; i < hd; ++i) r.out[i] += p[j] * value[i];
      }
    }
  }

  // l == 0 exactly when no key was visible: the row is zero.
  const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
  if constexpr (NV > 0) {
    for (int i = 0; i < NV; ++i) (acc[i] * inv_l).store_unaligned(r.out + i * kFloatLanes);
  } else {
    for (int i = 0; i < hd; ++i) r.out[i] *= inv_l;
  }
}

using RowFn = void (*)(const RowTask&);

// The register-accumulator instance for head_dim, or the general one.
RowFn pick_row_fn(int head_dim) {
  if (head_dim % kFloatLanes != 0) return attend_row_simd<0>;
  switch (head_dim / kFloatLanes) {
    case 1:
      return attend_row_simd<1>;
    case 2:
      return attend_row_simd<2>;
    case 4:
      return attend_row_simd<4>;
    case 8:
      return attend_row_simd<8>;
    case 16:
      return attend_row_simd<16>;
    default:
      return attend_row_simd<0>;
  }
}
#endif

// Row (b, t, h): builds its RowTask.
RowTask make_row_task(const float* q, const float* k, const float* v, const std::uint8_t* key_mask,
                      float* out, const AttentionShape& s, const Layout& l, std::int64_t b,
                      std::int64_t t, int h) {
  const int g = h / (s.n_heads / s.n_heads_kv);
  RowTask r;
  r.q = q + (b * s.q_len + t) * l.q_row + static_cast<std::int64_t>(h) * s.head_dim;
  r.out = out + (b * s.q_len + t) * l.out_row + static_cast<std::int64_t>(h) * s.head_dim;
  r.k = k + b * l.kv_batch + static_cast<std::int64_t>(g) * s.head_dim;
  r.v = v + b * l.kv_batch + static_cast<std::int64_t>(g) * s.head_dim;
  r.mask = key_mask ? key_mask + b * s.kv_len : nullptr;
  r.n_keys = s.causal ? t + (s.kv_len - s.q_len) + 1 : s.kv_len;
  r.kv_row = l.kv_row;
  r.head_dim = s.head_dim;
  r.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  return r;
}

// Query rows per task of the fast version: enough to amortise a hand-out, few enough that a
// prompt of a few hundred tokens still splits into many tasks per head.
constexpr std::int64_t kQueryBlock = 16;

}  // namespace

void attention_ref(const float* q, const float* k, const float* v, const std::uint8_t* key_mask,
                   float* out, const AttentionShape& shape) {
  const Layout layout = resolve_layout(shape);
  check_attention_args(q, k, v, out, shape, layout);
  for (std::int64_t b = 0; b < shape.batch; ++b) {
    for (std::int64_t t = 0; t < shape.q_len; ++t) {
      for (int h = 0; h < shape.n_heads; ++h) {
        attend_row_ref(make_row_task(q, k, v, key_mask, out, shape, layout, b, t, h));
      }
    }
  }
}

void attention(const float* q, const float* k, const float* v, const std::uint8_t* key_mask,
               float* out, const AttentionShape& shape, ThreadPool& pool) {
  const Layout layout = resolve_layout(shape);
  check_attention_args(q, k, v, out, shape, layout);
  const std::int64_t q_blocks = (shape.q_len + kQueryBlock - 1) / kQueryBlock;
  const std::int64_t n_tasks = shape.batch * shape.n_heads * q_blocks;
#if !defined(POCKET_SIMD_SCALAR)
  const RowFn attend_row = pick_row_fn(shape.head_dim);
#endif
  pool.run(n_tasks, [&](std::int64_t task, int) {
    const std::int64_t q_block = task % q_blocks;
    const int h = static_cast<int>((task / q_blocks) % shape.n_heads);
    const std::int64_t b = task / (q_blocks * shape.n_heads);
    const std::int64_t t_end = std::min(shape.q_len, (q_block + 1) * kQueryBlock);
    for (std::int64_t t = q_block * kQueryBlock; t < t_end; ++t) {
      const RowTask row = make_row_task(q, k, v, key_mask, out, shape, layout, b, t, h);
#if defined(POCKET_SIMD_SCALAR)
      attend_row_ref(row);
#else
      attend_row(row);
#endif
    }
  });
}

}  // namespace pocket
