// The weight update of one ZO step over one tensor (DESIGN.md, "One ZO step", step 4):
//
//   W[i] <- SR16(W[i] - lr * (grad * z[i] + weight_decay * W[i]))        i < n, W fp16, in place
//
// z[i] = z_sign(z_key, index_base + i) (Rademacher ±1, zrng.h), SR16 = f32_to_f16_sr with the bits
// sr_bits(sr_key, index_base + i) (sr16.h). grad is the projected gradient (L+ - L-) / (2 eps),
// weight_decay is 0 for biases and norms (the caller decides). index_base is the flat index of
// W[0] within its tensor, so a tensor may be updated in pieces with the same result.
//
// Exact fp32 operation order (every operation rounds to nearest even in fp32, no FMA; a reference
// in another language reproduces it with float32 scalars), for w = W[i] widened exactly to fp32:
//
//   gz   = grad * z                (exact: z = ±1)
//   wd   = weight_decay * w
//   d    = gz + wd
//   step = lr * d
//   v    = w - step
//   W[i] = f32_to_f16_sr(v, sr_bits(sr_key, index_base + i))
//
// Every element depends on its own index only, so the result is bit-identical for any thread
// count and any split of the tensor. With grad = weight_decay = 0, W is unchanged bit for bit,
// except that -0 may come back as +0 (-0 - (-0) = +0 in IEEE arithmetic). A non-finite weight
// becomes NaN (0 * Inf); SR never produces one, it saturates at ±65504.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_view.h"

namespace pocket {

struct ZoUpdate {
  std::uint64_t z_key = 0;       // z_key(seed, pid) of the tensor
  std::uint64_t sr_key = 0;      // sr_key(seed, pid); unused by the fp32-master variant
  float lr = 0.0f;               // eta_t
  float grad = 0.0f;             // projected gradient g
  float weight_decay = 0.0f;     // lambda
  std::uint64_t index_base = 0;  // flat index of element 0 within the tensor
};

// v = w - lr * (grad * z + weight_decay * w) in the order above, for one element. Each product
// is its own statement so that even -ffp-contract=on (clang's default) cannot fuse it into an FMA.
inline float zo_update_value(float w, float z, const ZoUpdate& p) {
  const float gz = p.grad * z;
  const float wd = p.weight_decay * w;
  const float d = gz + wd;
  const float step = p.lr * d;
  return w - step;
}

// The fp16 update above, in place. SIMD + the pool's threads; allocates nothing.
void zo_update_f16(fp16* w, std::size_t n, const ZoUpdate& p, ThreadPool& pool = default_pool());
// The same, one element at a time (z_sign, sr_bits, scalar SR), single thread.
void zo_update_f16_ref(fp16* w, std::size_t n, const ZoUpdate& p);

// With an fp32 master copy (small trainable sets): the same update of the master in fp32, then the
// fp16 copy taken by round-to-nearest-even (no randomness, sr_key unused):
//
//   master[i] <- zo_update_value(master[i], z[i], p)        (the order above, with w = master[i])
//   w[i]      <- f32_to_f16_scalar(master[i])               (|master| >= 65520 gives ±Inf)
void zo_update_f32_master(float* master, fp16* w, std::size_t n, const ZoUpdate& p,
                          ThreadPool& pool = default_pool());
void zo_update_f32_master_ref(float* master, fp16* w, std::size_t n, const ZoUpdate& p);

// An fp32 tensor (a LoRA adapter) updated in place in fp32, no rounding to fp16:
//   w[i] <- zo_update_value(w[i], z[i], p)                  (the order above; sr_key unused)
void zo_update_f32(float* w, std::size_t n, const ZoUpdate& p, ThreadPool& pool = default_pool());
void zo_update_f32_ref(float* w, std::size_t n, const ZoUpdate& p);

// The update of a whole tensor through its view, the format choosing the arithmetic: F16 as
// zo_update_f16, F32 as zo_update_f32. Element (r, c) has the flat index
// index_base + r·stride + c, as a GEMM's perturbation reads it (weight_view.h). The quantized formats add their update here.
void zo_update(const MutableWeightView& w, const ZoUpdate& p, ThreadPool& pool = default_pool());
// With an fp32 master: `master` (F32, w's shape) as zo_update_f32_master, and w (F16) its
// round-to-nearest copy.
void zo_update(const MutableWeightView& master, const MutableWeightView& w, const ZoUpdate& p,
               ThreadPool& pool = default_pool());

}  // namespace pocket
