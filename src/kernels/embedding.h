// Token embedding lookup: rows of an fp16 table gathered into the fp32 residual stream.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"

namespace pocket {

// out[n,d] = f32(table[ids[i], :]) (+ addend[i, :] when addend is not null)
// table[vocab,d] fp16 (the checkpoint's wte), ids[n] in [0, vocab), addend[n,d] fp32 (e.g. the
// learned position embeddings of GPT-2/OPT, already gathered for these tokens).
void embedding_gather_ref(const fp16* table, std::int64_t vocab, std::int64_t d,
                          const std::int32_t* ids, std::int64_t n, const float* addend, float* out);
void embedding_gather(const fp16* table, std::int64_t vocab, std::int64_t d,
                      const std::int32_t* ids, std::int64_t n, const float* addend, float* out);

}  // namespace pocket
