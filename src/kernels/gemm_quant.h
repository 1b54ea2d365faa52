// Integer GEMM over ggml block weights:  Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias) (+ Y)
//
// W is Q8_0, Q4_0, Q4_K or Q6_K (quant_blocks.h), read in place; X is fp32 and quantized here,
// per row and per 32 values, to int8 (llama.cpp's block_q8_0 rule, d = amax/127, q = round(x/d),
// but d kept in fp32 and the block's integer sums kept beside it); every dot product of 32
// values is an exact integer, and only the per-block scales are fp32.
//
// One activation format for every weight format, blocks of 32 (not llama.cpp's Q8_K of 256 for
// the K-quants): Q4_K's sub-blocks are 32 wide and Q6_K's 16 (two per X block), so every W scale
// meets one X scale and the per-32 X scale is as accurate as Q8_0's; a 256-wide X scale would let
// one outlier coarsen 255 neighbours, and saves nothing here since the fp32 combination below is
// per 32 values anyway.
//
// The value of one output, in this order (the scalar reference gemm_quant_ref and every SIMD
// micro-kernel compute exactly these fp32 operations, so all of them give the same bits):
//   acc = 0
//   for each block b of 32 along K (dx = X's scale, xs = Σ x_q over the block, xs0/xs1 over its
//   halves):
//     Q8_0:  i = Σ w_q·x_q                                   acc = acc + (d·dx)·float(i)
//     Q4_0:  i = Σ q·x_q − 8·xs                              acc = acc + (d·dx)·float(i)
//     Q4_K:  i = Σ q·x_q   (sub-block b of its super-block)  acc = acc + ((d·sc·dx)·float(i)
//                                                                         − (dmin·m·dx)·float(xs))
//     Q6_K:  i = sc₀·(Σ₀ q·x_q − 32·xs0) + sc₁·(Σ₁ q·x_q − 32·xs1)   acc = acc + (d·dx)·float(i)
//   y = acc;  y = y_old + y if accumulating;  y = y + bias if a bias
// where d·sc and dmin·m (an fp16 times a 6-bit integer) are exact in fp32. Integer sums are
// exact in any order, so a kernel is free in how it forms i (vpdpbusd, maddubs, sdot) and bound
// only in the fp32 steps.
//
// Driver (gemm_quant.cpp): at M ≤ kGemmQuantSmallM, where the variant has a small-M kernel for
// the format, threads split N into tasks of 16-row groups and the kernel reads the blocks in
// place. Otherwise threads split N into tasks of whole panels by size only, never K; for
// each block of X rows (all of them at M ≤ 16: a decode step streams W once) X is quantized into
// the worker's scratch, each W panel of nr rows is unpacked to bytes laid out for a broadcast
// dot product (panel[b][t][j][4] = W row j, values 32b+4t..+3), and the micro-kernel multiplies
// mr X rows at a time against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/gemm.h"
#include "kernels/weight_view.h"

namespace pocket {

class ThreadPool;

inline constexpr int kQuantBlock = 32;  // values per X block and per packed W block

// Quantized X rows: row r's int8 values at q + r·q_stride, its per-block fp32 scales at
// d + r·d_stride, its per-16 integer sums at sum16 + r·s_stride (2 per block).
struct QuantRows {
  const std::int8_t* q;
  const float* d;
  const std::int32_t* sum16;
  std::int64_t q_stride, d_stride, s_stride;
};

// A packed panel of nr W rows over n_blocks blocks of 32 (rows past N are zero):
//   q[(b·8 + t)·nr·4 + 4j + l] = W row j's value 32b + 4t + l as an unsigned byte (Q8_0: its
//                                int8 bits; Q4_0, Q4_K: q in 0..15; Q6_K: q in 0..63)
//   scale[b·nr + j]            = Q8_0, Q4_0, Q6_K: d;  Q4_K: d·sc
//   min[b·nr + j]              = Q4_K: dmin·m
//   sub_scale[(2b + h)·nr + j] = Q6_K: the int8 scale of half h of block b
struct QuantPanel {
  const std::uint8_t* q;
  const float* scale;
  const float* min;
  const std::int32_t* sub_scale;
  std::int64_t n_blocks;
};

// Where a packer writes a panel (the layout of QuantPanel).
struct QuantPanelOut {
  std::uint8_t* q;
  float* scale;
  float* min;
  std::int32_t* sub_scale;
};

// Packs W rows [n0, n0 + n), n ≤ nr, into a panel (rows n..nr zero) and returns true, or returns
// false for a format it leaves to the portable packer.
using GemmQuantPack = bool (*)(const WeightView& w, std::int64_t n0, int n,
                               const QuantPanelOut& out);

// acc[i·nr + j] = the fp32 sum above (before bias and accumulation) of X row i < m against panel
// row j < nr, for m ≤ mr.
using GemmQuantUkernel = void (*)(WeightFormat format, const QuantPanel& w, const QuantRows& x,
                                  int m, float* acc);

// The small-M (decode) kernel: acc[i·kGemmQuantRowsNr + j] = the fp32 sum above of X row i < m
// against W row n0 + j, j < n, for m ≤ kGemmQuantSmallM and n ≤ kGemmQuantRowsNr, read straight
// from W's blocks: no panel is written, so each W byte is loaded once and used by all m rows while
// in registers (a panel costs a store and a load per byte, which at M = 1 is all the work there is).
using GemmQuantRows = void (*)(WeightFormat format, const WeightView& w, std::int64_t n0, int n,
                               const QuantRows& x, int m, float* acc);
inline constexpr int kGemmQuantSmallM = 4, kGemmQuantRowsNr = 16;

constexpr unsigned format_bit(WeightFormat f) { return 1u << static_cast<unsigned>(f); }

// quantize_activations' signature: a variant's own (vectorized, the same bits) or the portable one.
using GemmQuantActivations = void (*)(const float* x, std::int64_t K, std::int8_t* q, float* d,
                                      std::int32_t* sum16);

// One micro-kernel variant: its kernel set (a name of kKernelSets), a CPU feature it needs on top
// of that set ("avx512vnni", "asimddp"; "" for none), its tile, optionally its own packer (null:
// the portable one), a small-M kernel for the formats in rows_formats (bits of format_bit) and
// its own activation quantizer. The tile and the path change no bit.
struct GemmQuantKernel {
  const char* name;
  const char* isa;
  const char* needs;
  int mr, nr;
  GemmQuantUkernel ukernel;
  GemmQuantPack pack = nullptr;
  GemmQuantRows rows = nullptr;
  unsigned rows_formats = 0;
  GemmQuantActivations quantize = nullptr;  // null: quantize_activations
};

inline constexpr int kGemmQuantMaxMr = 8;
inline constexpr int kGemmQuantMaxNr = 64;

// The variants this binary has and this CPU runs, best first (scalar last, always there); the
// native one is the best whose set is cpu_config()'s.
std::span<const GemmQuantKernel* const> gemm_quant_kernels();
const GemmQuantKernel& gemm_quant_kernel_native();
const GemmQuantKernel& gemm_quant_kernel_scalar();

// Per ISA: the variants compiled into this binary (empty where the flags lack the ISA).
namespace avx512 {
std::span<const GemmQuantKernel> gemm_quant_variants();
}
namespace avx2 {
std::span<const GemmQuantKernel> gemm_quant_variants();
}
namespace neon {
std::span<const GemmQuantKernel> gemm_quant_variants();
}

// For s < n_streams: Y_s[M, N] = X_s · Wᵀ (+ bias_s) (+ Y_s), N = w.rows, K = w.cols, w in a
// block format (K a multiple of its block size). kernel null: the native one.
void gemm_quant(ThreadPool& pool, std::int64_t M, const WeightView& w, int n_streams,
                const GemmStream* streams, std::int64_t ldx, std::int64_t ldy, bool accumulate,
                const GemmQuantKernel* kernel = nullptr);

// Scalar reference for one stream, straight from the blocks: the sum above, one output at a time.
void gemm_quant_ref(std::int64_t M, const WeightView& w, const GemmStream& stream, std::int64_t ldx,
                    std::int64_t ldy, bool accumulate);

// One row of K values (K a multiple of 32) into int8 q[K], fp32 d[K/32] and sum16[K/16]:
//   d_b = amax_b / 127,  q = round(x · (1/d_b)) (0 where d_b = 0),  sum16 = Σ q over each 16
// as llama.cpp's quantize_row_q8_0 (which stores d as fp16).
void quantize_activations(const float* x, std::int64_t K, std::int8_t* q, float* d,
                          std::int32_t* sum16);

// Per-worker scratch gemm_quant needs for (M, K, streams) with `kernel` (any format).
std::size_t gemm_quant_scratch_bytes(const GemmQuantKernel& kernel, std::int64_t M, std::int64_t K,
                                     int streams);

}  // namespace pocket
