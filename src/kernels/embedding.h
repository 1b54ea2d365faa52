// Token embedding lookup: rows of a weight table gathered into the fp32 residual stream.
#pragma once

#include <cstdint>

#include "kernels/thread_pool.h"
#include "kernels/weight_view.h"

namespace pocket {

// out[n,d] = f32(table[ids[i], :]) (+ addend[i, :] when addend is not null)
// table [vocab = table.rows, d = table.cols] (the checkpoint's wte): F16 (converted exactly), F32,
// or a block format (each gathered row decoded by dequantize_row, llama.cpp's values; cols and
// stride multiples of the block size); rows table.stride elements apart. ids[n] in [0, vocab),
// addend[n,d] fp32 (e.g. the learned position embeddings of GPT-2/OPT, already gathered for these
// tokens; not out itself).
void embedding_gather_ref(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                          const float* addend, float* out);
void embedding_gather(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                      const float* addend, float* out, ThreadPool& pool = default_pool());

// The gather of one ZO stream, the table read as P + c·z without writing it (src/zo/README.md:
// "embedding rows are perturbed as they are gathered"):
//
//   out[i,j] = (f32(table[ids[i], j]) + scale · z[index_base + ids[i]·stride + j]) (+ addend[i,j])
//
// z = z_sign(z_key, ·) (zrng.h), so row r of the table takes z[r·stride + j] (the element's flat
// index) whichever position gathers it. Each + is its own fp32 rounding, in the order written
// (scale·z = ±scale is exact). scale == 0 is the plain gather, bit for bit (no add at all, so a -0
// entry stays -0).
void embedding_gather_perturbed_ref(const WeightView& table, const std::int32_t* ids,
                                    std::int64_t n, const float* addend, float* out,
                                    std::uint64_t z_key, float scale, std::int64_t index_base);
void embedding_gather_perturbed(const WeightView& table, const std::int32_t* ids, std::int64_t n,
                                const float* addend, float* out, std::uint64_t z_key, float scale,
                                std::int64_t index_base, ThreadPool& pool = default_pool());

}  // namespace pocket
