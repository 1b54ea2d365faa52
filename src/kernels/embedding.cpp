#include "kernels/embedding.h"

#include <cassert>

#include "kernels/fp16_simd.h"
#include "kernels/parallel_rows.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "kernels/zrng_simd.h"

namespace pocket {

namespace {

void check_embedding_args([[maybe_unused]] const fp16* table, [[maybe_unused]] std::int64_t vocab,
                          [[maybe_unused]] std::int64_t d, [[maybe_unused]] const std::int32_t* ids,
                          [[maybe_unused]] std::int64_t n, [[maybe_unused]] float* out) {
  assert(table && ids && out && vocab > 0 && d > 0 && n >= 0);
  for (std::int64_t i = 0; i < n; ++i) assert(0 <= ids[i] && ids[i] < vocab);
}

// fp16 -> fp32 is exact, so the fast and reference rows agree bit for bit.
void gather_row_ref(const fp16* row, const float* addend, float* out, std::int64_t d) {
  for (std::int64_t j = 0; j < d; ++j) {
    const float e = f16_to_f32_scalar(row[j]);
    out[j] = addend ? e + addend[j] : e;
  }
}

#if !defined(POCKET_SIMD_SCALAR)
void gather_row_simd(const fp16* row, const float* addend, float* out, std::int64_t d) {
  std::int64_t j = 0;
  for (; j + kFloatLanes <= d; j += kFloatLanes) {
    const vfloat e = load_f16(row + j);
    (addend ? e + vfloat::load_unaligned(addend + j) : e).store_unaligned(out + j);
  }
  gather_row_ref(row + j, addend ? addend + j : nullptr, out + j, d - j);
}
#endif

// One perturbed row, z read sequentially from `bits` (positioned at the row's first element).
// The same two roundings as the reference; the z bits come from the same words.
void gather_row_perturbed(const fp16* row, const float* addend, float* out, std::int64_t d,
                          float scale, ZBitReader& bits) {
  std::int64_t j = 0;
#if !defined(POCKET_SIMD_SCALAR)
  for (; j + kFloatLanes <= d; j += kFloatLanes) {
    const vfloat e = load_f16(row + j) + signed_lanes(bits.take(kFloatLanes), scale);
    (addend ? e + vfloat::load_unaligned(addend + j) : e).store_unaligned(out + j);
  }
#endif
  for (; j < d; ++j) {
    const float e = f16_to_f32_scalar(row[j]) + (bits.take(1) ? scale : -scale);
    out[j] = addend ? e + addend[j] : e;
  }
}

}  // namespace

void embedding_gather_ref(const fp16* table, std::int64_t vocab, std::int64_t d,
                          const std::int32_t* ids, std::int64_t n, const float* addend,
                          float* out) {
  check_embedding_args(table, vocab, d, ids, n, out);
  for (std::int64_t i = 0; i < n; ++i) {
    gather_row_ref(table + ids[i] * d, addend ? addend + i * d : nullptr, out + i * d, d);
  }
}

void embedding_gather(const fp16* table, std::int64_t vocab, std::int64_t d,
                      const std::int32_t* ids, std::int64_t n, const float* addend, float* out,
                      ThreadPool& pool) {
  check_embedding_args(table, vocab, d, ids, n, out);
  parallel_rows(pool, n, 2 * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const fp16* row = table + static_cast<std::int64_t>(ids[i]) * d;
      const float* add = addend ? addend + i * d : nullptr;
#if defined(POCKET_SIMD_SCALAR)
      gather_row_ref(row, add, out + i * d, d);
#else
      gather_row_simd(row, add, out + i * d, d);
#endif
    }
  });
}

void embedding_gather_perturbed_ref(const fp16* table, std::int64_t vocab, std::int64_t d,
                                    const std::int32_t* ids, std::int64_t n, const float* addend,
                                    float* out, std::uint64_t z_key, float scale,
                                    std::int64_t index_base) {
  if (scale == 0.0f) {
    embedding_gather_ref(table, vocab, d, ids, n, addend, out);
    return;
  }
  check_embedding_args(table, vocab, d, ids, n, out);
  assert(index_base >= 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = ids[i];
    for (std::int64_t j = 0; j < d; ++j) {
      const std::uint64_t index = static_cast<std::uint64_t>(index_base + r * d + j);
      const float sz = scale * z_sign(z_key, index);
      const float e = f16_to_f32_scalar(table[r * d + j]) + sz;
      out[i * d + j] = addend ? e + addend[i * d + j] : e;
    }
  }
}

void embedding_gather_perturbed(const fp16* table, std::int64_t vocab, std::int64_t d,
                                const std::int32_t* ids, std::int64_t n, const float* addend,
                                float* out, std::uint64_t z_key, float scale,
                                std::int64_t index_base, ThreadPool& pool) {
  if (scale == 0.0f) {
    embedding_gather(table, vocab, d, ids, n, addend, out, pool);
    return;
  }
  check_embedding_args(table, vocab, d, ids, n, out);
  assert(index_base >= 0);
  parallel_rows(pool, n, 2 * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t r = ids[i];
      ZBitReader bits(z_key, static_cast<std::uint64_t>(index_base + r * d));
      gather_row_perturbed(table + r * d, addend ? addend + i * d : nullptr, out + i * d, d, scale,
                           bits);
    }
  });
}

}  // namespace pocket
