#include "kernels/embedding.h"

#include <cassert>

#include "kernels/fp16_simd.h"
#include "kernels/parallel_rows.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd.h"
#include "kernels/zrng.h"
#include "kernels/zrng_simd.h"

namespace pocket {

namespace {

void check_embedding_args([[maybe_unused]] const WeightView& table,
                          [[maybe_unused]] const std::int32_t* ids, [[maybe_unused]] std::int64_t n,
                          [[maybe_unused]] const float* addend, [[maybe_unused]] float* out) {
  assert(table.data && ids && out && table.rows > 0 && table.cols > 0 && n >= 0);
  assert(table.stride >= table.cols && (addend == nullptr || addend != out));
  assert(table.cols % weight_block_size(table.format) == 0 &&
         table.stride % weight_block_size(table.format) == 0);
  for (std::int64_t i = 0; i < n; ++i) assert(0 <= ids[i] && ids[i] < table.rows);
}

// Row r of the table: its first element (F16/F32) or block.
const void* table_row(const WeightView& table, std::int64_t r) {
  const std::int64_t first = r * table.stride;
  const auto* data = static_cast<const char*>(table.data);
  switch (table.format) {
    case WeightFormat::kF16:
      return data + first * sizeof(fp16);
    case WeightFormat::kF32:
      return data + first * sizeof(float);
    default:
      return data + weight_bytes(table.format, first);
  }
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

// F32 and block-format rows: the row decoded into out (dequantize_row), then in place
// out[j] = (out[j] (± scale)) (+ addend[j]), the same roundings as the F16 rows. bits null: no z.
void gather_row_decoded(const WeightView& table, std::int64_t r, const float* addend, float* out,
                        float scale, ZBitReader* bits, bool simd) {
  const std::int64_t d = table.cols;
  dequantize_row(table.format, table_row(table, r), out, d);
  if (addend == nullptr && bits == nullptr) return;
  std::int64_t j = 0;
#if !defined(POCKET_SIMD_SCALAR)
  for (; simd && j + kFloatLanes <= d; j += kFloatLanes) {
    vfloat e = vfloat::load_unaligned(out + j);
    if (bits) e = e + signed_lanes(bits->take(kFloatLanes), scale);
    (addend ? e + vfloat::load_unaligned(addend + j) : e).store_unaligned(out + j);
  }
#else
  (void)simd;
#endif
  for (; j < d; ++j) {
    const float e = bits ? out[j] + (bits->take(1) ? scale : -scale) : out[j];
    out[j] = addend ? e + addend[j] : e;
  }
}

}  // namespace

void embedding_gather_ref(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                          const float* addend, float* out) {
  check_embedding_args(table, ids, n, addend, out);
  const std::int64_t d = table.cols;
  for (std::int64_t i = 0; i < n; ++i) {
    const float* add = addend ? addend + i * d : nullptr;
    if (table.format == WeightFormat::kF16) {
      gather_row_ref(static_cast<const fp16*>(table_row(table, ids[i])), add, out + i * d, d);
    } else {
      gather_row_decoded(table, ids[i], add, out + i * d, 0.0f, nullptr, false);
    }
  }
}

void embedding_gather(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                      const float* addend, float* out, ThreadPool& pool) {
  check_embedding_args(table, ids, n, addend, out);
  const std::int64_t d = table.cols;
  parallel_rows(pool, n, 2 * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const float* add = addend ? addend + i * d : nullptr;
      if (table.format != WeightFormat::kF16) {
        gather_row_decoded(table, ids[i], add, out + i * d, 0.0f, nullptr, true);
        continue;
      }
      const auto* row = static_cast<const fp16*>(table_row(table, ids[i]));
#if defined(POCKET_SIMD_SCALAR)
      gather_row_ref(row, add, out + i * d, d);
#else
      gather_row_simd(row, add, out + i * d, d);
#endif
    }
  });
}

void embedding_gather_perturbed_ref(const WeightView& table, const std::int32_t* ids,
                                    std::int64_t n, const float* addend, float* out,
                                    std::uint64_t z_key, float scale, std::int64_t index_base) {
  if (scale == 0.0f) {
    embedding_gather_ref(table, ids, n, addend, out);
    return;
  }
  check_embedding_args(table, ids, n, addend, out);
  assert(index_base >= 0);
  const std::int64_t d = table.cols;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = ids[i];
    float* row_out = out + i * d;
    dequantize_row(table.format, table_row(table, r), row_out, d);  // exact for F16
    for (std::int64_t j = 0; j < d; ++j) {
      const std::uint64_t index = static_cast<std::uint64_t>(index_base + r * table.stride + j);
      const float sz = scale * z_sign(z_key, index);
      const float e = row_out[j] + sz;
      row_out[j] = addend ? e + addend[i * d + j] : e;
    }
  }
}

void embedding_gather_perturbed(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                                const float* addend, float* out, std::uint64_t z_key, float scale,
                                std::int64_t index_base, ThreadPool& pool) {
  if (scale == 0.0f) {
    embedding_gather(table, ids, n, addend, out, pool);
    return;
  }
  check_embedding_args(table, ids, n, addend, out);
  assert(index_base >= 0);
  const std::int64_t d = table.cols;
  parallel_rows(pool, n, 2 * d, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t r = ids[i];
      ZBitReader bits(z_key, static_cast<std::uint64_t>(index_base + r * table.stride));
      const float* add = addend ? addend + i * d : nullptr;
      if (table.format == WeightFormat::kF16) {
        gather_row_perturbed(static_cast<const fp16*>(table_row(table, r)), add, out + i * d, d,
                             scale, bits);
      } else {
        gather_row_decoded(table, r, add, out + i * d, scale, &bits, true);
      }
    }
  });
}

}  // namespace pocket
