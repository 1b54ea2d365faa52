#include "kernels/zo_update.h"

#include <algorithm>
#include <cassert>

#include "kernels/fp16_simd.h"
#include "kernels/simd.h"
#include "kernels/sr16.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"

namespace pocket {

namespace {

// Elements per block: one 64-bit word of z signs and 64 words of SR bits on the stack.
constexpr std::size_t kBlock = 64;
// Elements per thread task (a multiple of kBlock): 32 KiB of fp16, enough to amortise a hand-out.
constexpr std::size_t kTaskElems = 256 * kBlock;

// Bit k of the result is the z bit of flat index pos + k (k < 64): word(pos >> 6) shifted, with
// the next word's low bits shifted in when pos is not a multiple of 64.
std::uint64_t z_bits64(std::uint64_t z_key, std::uint64_t pos) {
  const std::uint64_t j = pos >> 6;
  const unsigned shift = static_cast<unsigned>(pos & 63u);
  const std::uint64_t lo = z_word(z_key, j);
  return shift == 0 ? lo : (lo >> shift) | (z_word(z_key, j + 1) << (64 - shift));
}

inline float z_from_bit(std::uint64_t z_bits, std::size_t k) {
  return ((z_bits >> k) & 1u) ? 1.0f : -1.0f;
}

#if !defined(POCKET_SIMD_SCALAR)
using vuint = xsimd::batch<std::uint32_t>;
static_assert(vuint::size == vfloat::size && kBlock % vfloat::size == 0);

// Lane k holds 1 << k: tests bit k of the lanes' share of the z word.
vuint lane_bits() {
  alignas(64) std::uint32_t bits[vuint::size];
  for (std::size_t k = 0; k < vuint::size; ++k) bits[k] = 1u << k;
  return vuint::load_aligned(bits);
}

// z for lanes k = 0..L-1 from bits first..first+L-1 of z_bits: +1.0f (0x3F800000) where set,
// -1.0f (0xBF800000) where clear.
inline vfloat z_lanes(std::uint64_t z_bits, std::size_t first, const vuint& lane_bit) {
  const vuint word(static_cast<std::uint32_t>(z_bits >> first));
  const vuint set =
      xsimd::select((word & lane_bit) != vuint(0u), vuint(0x3F800000u), vuint(0xBF800000u));
  return xsimd::bitwise_cast<vfloat>(set);
}

// zo_update_value on lanes, the same operations in the same order (separate mul and add).
inline vfloat zo_update_lanes(vfloat w, vfloat z, const ZoUpdate& p) {
  const vfloat gz = vfloat(p.grad) * z;
  const vfloat wd = vfloat(p.weight_decay) * w;
  const vfloat d = gz + wd;
  const vfloat step = vfloat(p.lr) * d;
  return w - step;
}
#endif

// Elements [begin, end) of the fp16 update; begin is a multiple of kBlock.
void update_f16_range(fp16* w, std::size_t begin, std::size_t end, const ZoUpdate& p) {
  std::uint32_t random_bits[kBlock];
#if !defined(POCKET_SIMD_SCALAR)
  const vuint lane_bit = lane_bits();
#endif
  for (std::size_t start = begin; start < end; start += kBlock) {
    const std::size_t len = std::min(kBlock, end - start);
    const std::uint64_t pos = p.index_base + start;
    const std::uint64_t z_bits = z_bits64(p.z_key, pos);
    fill_sr_bits(p.sr_key, pos, len, random_bits);
    fp16* block = w + start;
    std::size_t k = 0;
#if !defined(POCKET_SIMD_SCALAR)
    for (; k + kFloatLanes <= len; k += kFloatLanes) {
      const vfloat v = zo_update_lanes(load_f16(block + k), z_lanes(z_bits, k, lane_bit), p);
      store_f16(block + k, f32_to_f16_sr_lanes(v, vuint::load_unaligned(random_bits + k)));
    }
#endif
    for (; k < len; ++k) {
      const float v = zo_update_value(f16_to_f32_scalar(block[k]), z_from_bit(z_bits, k), p);
      block[k] = f32_to_f16_sr(v, random_bits[k]);
    }
  }
}

// The fp32 update of master[begin, end); with kCopyF16 also its round-to-nearest fp16 copy into
// w (--master f32), without it master is the parameter itself (an F32 adapter).
template <bool kCopyF16>
void update_f32_range(float* master, fp16* w, std::size_t begin, std::size_t end,
                      const ZoUpdate& p) {
#if !defined(POCKET_SIMD_SCALAR)
  const vuint lane_bit = lane_bits();
#endif
  for (std::size_t start = begin; start < end; start += kBlock) {
    const std::size_t len = std::min(kBlock, end - start);
    const std::uint64_t z_bits = z_bits64(p.z_key, p.index_base + start);
    float* m = master + start;
    std::size_t k = 0;
#if !defined(POCKET_SIMD_SCALAR)
    for (; k + kFloatLanes <= len; k += kFloatLanes) {
      const vfloat v =
          zo_update_lanes(vfloat::load_unaligned(m + k), z_lanes(z_bits, k, lane_bit), p);
      v.store_unaligned(m + k);
      if constexpr (kCopyF16) store_f16(w + start + k, v);
    }
#endif
    for (; k < len; ++k) {
      m[k] = zo_update_value(m[k], z_from_bit(z_bits, k), p);
      if constexpr (kCopyF16) w[start + k] = f32_to_f16_scalar(m[k]);
    }
  }
}

// Runs fn(begin, end) over [0, n) in tasks of kTaskElems on the pool.
template <class Fn>
void for_each_task(ThreadPool& pool, std::size_t n, Fn&& fn) {
  const std::int64_t n_tasks = static_cast<std::int64_t>((n + kTaskElems - 1) / kTaskElems);
  pool.run(n_tasks, [&](std::int64_t task, int) {
    const std::size_t begin = static_cast<std::size_t>(task) * kTaskElems;
    fn(begin, std::min(n, begin + kTaskElems));
  });
}

}  // namespace

void zo_update_f16_ref(fp16* w, std::size_t n, const ZoUpdate& p) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t index = p.index_base + i;
    const float v = zo_update_value(f16_to_f32_scalar(w[i]), z_sign(p.z_key, index), p);
    w[i] = f32_to_f16_sr(v, sr_bits(p.sr_key, index));
  }
}

void zo_update_f16(fp16* w, std::size_t n, const ZoUpdate& p, ThreadPool& pool) {
  for_each_task(pool, n,
                [&](std::size_t begin, std::size_t end) { update_f16_range(w, begin, end, p); });
}

void zo_update_f32_master_ref(float* master, fp16* w, std::size_t n, const ZoUpdate& p) {
  for (std::size_t i = 0; i < n; ++i) {
    master[i] = zo_update_value(master[i], z_sign(p.z_key, p.index_base + i), p);
    w[i] = f32_to_f16_scalar(master[i]);
  }
}

void zo_update_f32_master(float* master, fp16* w, std::size_t n, const ZoUpdate& p,
                          ThreadPool& pool) {
  for_each_task(pool, n, [&](std::size_t begin, std::size_t end) {
    update_f32_range<true>(master, w, begin, end, p);
  });
}

// A view row by row (one call when its rows are contiguous), with each row's flat index base.
template <class F>
void for_each_row_run(const MutableWeightView& w, const ZoUpdate& p, F&& fn) {
  if (w.stride == w.cols || w.rows == 1) {
    fn(std::int64_t{0}, static_cast<std::size_t>(w.rows * w.cols), p);
    return;
  }
  for (std::int64_t r = 0; r < w.rows; ++r) {
    ZoUpdate row = p;
    row.index_base = p.index_base + static_cast<std::uint64_t>(r * w.stride);
    fn(r * w.stride, static_cast<std::size_t>(w.cols), row);
  }
}

void zo_update_f32_ref(float* w, std::size_t n, const ZoUpdate& p) {
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = zo_update_value(w[i], z_sign(p.z_key, p.index_base + i), p);
  }
}

void zo_update_f32(float* w, std::size_t n, const ZoUpdate& p, ThreadPool& pool) {
  for_each_task(pool, n, [&](std::size_t begin, std::size_t end) {
    update_f32_range<false>(w, nullptr, begin, end, p);
  });
}

void zo_update(const MutableWeightView& w, const ZoUpdate& p, ThreadPool& pool) {
  if (w.format == WeightFormat::kF32) {
    auto* data = static_cast<float*>(w.data);
    for_each_row_run(w, p, [&](std::int64_t offset, std::size_t n, const ZoUpdate& u) {
      zo_update_f32(data + offset, n, u, pool);
    });
    return;
  }
  assert(w.format == WeightFormat::kF16);
  auto* data = static_cast<fp16*>(w.data);
  for_each_row_run(w, p, [&](std::int64_t offset, std::size_t n, const ZoUpdate& u) {
    zo_update_f16(data + offset, n, u, pool);
  });
}

void zo_update(const MutableWeightView& master, const MutableWeightView& w, const ZoUpdate& p,
               ThreadPool& pool) {
  assert(master.format == WeightFormat::kF32 && w.format == WeightFormat::kF16);
  assert(master.rows == w.rows && master.cols == w.cols && master.stride == w.stride);
  auto* m = static_cast<float*>(master.data);
  auto* data = static_cast<fp16*>(w.data);
  for_each_row_run(w, p, [&](std::int64_t offset, std::size_t n, const ZoUpdate& u) {
    zo_update_f32_master(m + offset, data + offset, n, u, pool);
  });
}

}  // namespace pocket
