#include "kernels/gemm_small_m.h"

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/fp16_simd.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng_simd.h"

#if !defined(POCKET_SIMD_SCALAR)
#include "kernels/simd_reduce.h"
#endif

namespace pocket::gemm_detail {

#if !defined(POCKET_SIMD_SCALAR)
namespace {

constexpr int L = kFloatLanes;

// Accumulator registers a tile may hold and the W rows of a tile at M ≥ 2: with 32 vector
// registers (AVX-512, NEON) 24 accumulators beside 6 W vectors and X; with 16 (AVX2) 8 beside 4.
#if defined(POCKET_SIMD_AVX2)
constexpr int kAccRegs = 8, kRowsMany = 4;
#else
constexpr int kAccRegs = 24, kRowsMany = 6;
#endif

// The tile shape of a call: R rows of W, and A accumulators per output element, vector v of
// K (lanes [v·L, v·L + L)) going to accumulator v mod A. It depends on M only, never on the
// stream count or the thread count, so a stream's Y has the same bits alone or in a pair.
//   M = 1: R = 1. One row at a time reads W as one sequential stream, which the hardware
//          prefetcher follows across pages; 4 row streams reached only ~0.7-0.9 of the read
//          bandwidth on Zen 5 (1 row: 0.9-1.05). A = 2 hides the FMA latency of the one chain.
//   M ≥ 2: R = kRowsMany. Each X vector serves R FMAs (loads per FMA 1/R + 1/M instead of
//          1 + 1/M). Measured on Zen 5 with W and X in L1 (MC×R tiles, fp16 W): R ≤ 4 ran at
//          75-87 GFLOP/s for any MC (4×4, 6×4, 8×3), R = 5..6 at 165-204 (2×6, 4×5, 4×6); the
//          cause is not known (no counters in the VM), the 4×6 tile is what the numbers choose.
struct Shape {
  int R, A;
};
constexpr Shape shape_of(std::int64_t M) { return M <= 1 ? Shape{1, 2} : Shape{kRowsMany, 1}; }

// X rows per pass over a tile: as many as the accumulators allow (S·MC·R ≤ kAccRegs). At M
// above it the tile's W rows are read again for each further chunk of X rows, from L1/L2.
constexpr int rows_per_chunk(int S, Shape t) { return std::max(1, kAccRegs / (S * t.R * t.A)); }

// Software prefetch, linear in W's memory. A single row stream needs only enough bytes in flight
// to cover the memory latency (~100 ns × ~25 GB/s per core ≈ 2.5 KB; 4 KiB measured best, 8-16 KiB
// worse). A tile of R > 1 rows reads its rows side by side, so the next tile's R whole rows must be
// on their way before its first step: there the prefetch runs one tile (R·K elements) ahead.
// Either way one prefetch per cache line, in address order: a linear stream of prefetches also
// trains the hardware prefetcher, where R interleaved per-row prefetches measured 0.2 lower.
// Prefetching past W's end is harmless: prefetches never fault.
constexpr std::int64_t kStreamAheadBytes = 4096;

// One call's operands.
struct Call {
  ThreadPool& pool;
  std::int64_t K, ldx, ldy, ldw;
  const fp16* w;
  const GemmStream* streams;
  bool accumulate;
  const WPackZ& z;
};

// z of each of R rows, read from the row's first element on; nothing without z.
struct NoZ {};
template <std::size_t... J>
std::array<ZBitReader, sizeof...(J)> z_readers(const Call& c, const fp16* const* rows,
                                               std::index_sequence<J...>) {
  return {ZBitReader(c.z.key[0], c.z.index_base + (rows[J] - c.w))...};
}
template <bool Z, int R>
auto z_rows(const Call& c, const fp16* const* rows) {
  if constexpr (Z) {
    return z_readers(c, rows, std::make_index_sequence<R>());
  } else {
    (void)c, (void)rows;
    return NoZ{};
  }
}

// One tile: W rows [n0, n0 + n) (n ≤ R; rows past n repeat row n0 + n - 1 and are not stored)
// against X rows [m0, m0 + MC) of each of S streams, over all of K:
//   acc[s][m][j][a] = Σ_{v ≡ a mod A} x_s[m, v·L..] ⊙ (W[j, v·L..] + scale_s·z[j, v·L..])
//   y_s[m, j] = Σ lanes (Σ_a acc[s][m][j][a]) + Σ_{k in the ragged end} x_s[m, k]·W'[j, k]
// (+ y before, if accumulating) (+ bias). Z: every stream of the call is perturbed.
template <int MC, int S, int R, int A, bool Z>
void tile(const Call& c, std::int64_t n0, int n, std::int64_t m0, bool prefetch) {
  // The accumulators are native registers (register_type), not xsimd batches, and every loop
  // over them is unrolled completely: GCC keeps an array of batches on the stack, a store and a
  // reload in every FMA chain, which cost a third of the M = 1 rate and half at M = 2..16.
  typename vfloat::register_type acc[S][MC][R][A];
#pragma GCC unroll 16
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 16
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 16
      for (int j = 0; j < R; ++j) {
#pragma GCC unroll 16
        for (int a = 0; a < A; ++a) acc[s][m][j][a] = vfloat(0.0f);
      }
    }
  }
  const fp16* rows[R];
  for (int j = 0; j < R; ++j) rows[j] = c.w + (n0 + std::min(j, n - 1)) * c.ldw;
  const float* x[S];
  for (int s = 0; s < S; ++s) x[s] = c.streams[s].x + m0 * c.ldx;
  auto bits = z_rows<Z, R>(c, rows);
  constexpr int kStep = A * L;                          // elements of each row per step
  constexpr int kStepBytes = R * kStep * sizeof(fp16);  // W bytes per step
  const char* ahead = reinterpret_cast<const char*>(rows[0]) +
                      (R == 1 ? kStreamAheadBytes : R * c.ldw * std::int64_t{sizeof(fp16)});
  const std::int64_t k_simd = c.K / L * L;
  float scale[S];  // local copies: a load through c would be redone after every store; with Z,
                   // every stream of the call is perturbed (gemm_small_m groups them so)
  for (int s = 0; s < S; ++s) scale[s] = Z ? c.z.scale[s] : 0.0f;
  // Vector ka of every row into accumulator a (a compile-time index, see acc).
  auto step = [&](std::int64_t ka, auto a_const) __attribute__((always_inline)) {
    constexpr int a = decltype(a_const)::value;
    typename vfloat::register_type wv[S][R];  // W' per stream (register_type: see acc)
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) {
      const vfloat w = load_f16(rows[j] + ka);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) wv[s][j] = w;
      if constexpr (Z) {
        const std::uint32_t zbits = bits[j].take(L);
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s) {
          wv[s][j] = w + signed_lanes(zbits, scale[s]);
        }
      }
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
#pragma GCC unroll 8
      for (int m = 0; m < MC; ++m) {
        const vfloat xv = vfloat::load_unaligned(x[s] + m * c.ldx + ka);
#pragma GCC unroll 8
        for (int j = 0; j < R; ++j) {
          acc[s][m][j][a] = fmadd(xv, vfloat(wv[s][j]), vfloat(acc[s][m][j][a]));
        }
      }
    }
  };
  std::int64_t k = 0;
  for (; k + kStep <= k_simd; k += kStep) {
    // Bytes [k·R·2, (k + kStep)·R·2) of the linear prefetch stream; below a line per step, a
    // line every 64 / kStepBytes steps.
    if (prefetch && (kStepBytes >= 64 || k * R * sizeof(fp16) % 64 == 0)) {
      for (int b = 0; b < std::max(kStepBytes, 64); b += 64) {
        __builtin_prefetch(ahead + k * R * std::int64_t{sizeof(fp16)} + b);
      }
    }
    [&]<int... As>(std::integer_sequence<int, As...>) {
      (step(k + As * L, std::integral_constant<int, As>()), ...);
    }(std::make_integer_sequence<int, A>());
  }
  for (; k < k_simd; k += L) step(k, std::integral_constant<int, 0>());  // fewer than A vectors left

  // Horizontal sums, L outputs per call, output t = (s·MC + m)·R + j.
  constexpr int kTile = S * MC * R;
  constexpr int kGroups = (kTile + L - 1) / L;
  vfloat tot[kGroups * L];
#pragma GCC unroll 16
  for (int s = 0; s < S; ++s) {
#pragma GCC unroll 16
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 16
      for (int j = 0; j < R; ++j) {
        vfloat t(acc[s][m][j][0]);
#pragma GCC unroll 16
        for (int a = 1; a < A; ++a) t += vfloat(acc[s][m][j][a]);
        tot[(s * MC + m) * R + j] = t;
      }
    }
  }
  for (int t = kTile; t < kGroups * L; ++t) tot[t] = vfloat(0.0f);
  alignas(64) float sums[kGroups * L];
  for (int g = 0; g < kGroups; ++g) sum_each_row(tot + g * L).store_aligned(sums + g * L);
  const int tail = static_cast<int>(c.K - k_simd);
  for (int j = 0; j < n; ++j) {
    float wt[L];  // the ragged end of row j, perturbed per stream below
    for (int k = 0; k < tail; ++k) wt[k] = f16_to_f32_scalar(rows[j][k_simd + k]);
    std::uint32_t zt = 0;
    if constexpr (Z) {
      if (tail > 0) zt = bits[j].take(tail);
    }
    for (int s = 0; s < S; ++s) {
      const float scale = Z ? c.z.scale[s] : 0.0f;
      for (int m = 0; m < MC; ++m) {
        float rest = 0.0f;
        for (int k = 0; k < tail; ++k) {
          float wk = wt[k];
          if (scale != 0.0f) wk += ((zt >> k) & 1u) ? scale : -scale;
          rest += x[s][m * c.ldx + k_simd + k] * wk;
        }
        float v = sums[(s * MC + m) * R + j] + rest;
        float* y = c.streams[s].y + (m0 + m) * c.ldy + n0 + j;
        if (c.accumulate) v = *y + v;
        if (c.streams[s].bias != nullptr) v += c.streams[s].bias[n0 + j];
        *y = v;
      }
    }
  }
}

// X rows [m0, m0 + rows) of a tile, rows ≤ MC: the instantiation for that many rows.
template <int MC, int S, int R, int A, bool Z>
void tile_rows(int rows, const Call& c, std::int64_t n0, int n, std::int64_t m0, bool prefetch) {
  if constexpr (MC > 1) {
    if (rows < MC) return tile_rows<MC - 1, S, R, A, Z>(rows, c, n0, n, m0, prefetch);
  }
  tile<MC, S, R, A, Z>(c, n0, n, m0, prefetch);
}

// W bytes a pass over the X chunks keeps in cache: a block of tiles small enough to stay in L2
// (a quarter of a 1 MiB L2; phones have 512 KiB and more) beside the X chunk in L1.
constexpr std::int64_t kWBlockBytes = 256 << 10;

// Threads take contiguous ranges of tiles, one range each: every thread streams one part of W
// from start to end, which is what the prefetch above follows. With more X rows than one chunk,
// a range goes in blocks of tiles: the first chunk of X rows reads the block from memory (and
// prefetches ahead), the others find it in L2, while each chunk of X stays in L1 across the block
// (chunk by chunk within one tile instead, all of X goes through L1 for every tile; measured
// gain at M = 16: 0-10 %, inside the noise, kept because it bounds X traffic at larger K).
template <int S, int R, int A, int MC, bool Z>
void run(std::int64_t M, std::int64_t N, const Call& c) {
  ThreadPool& pool = c.pool;
  const std::int64_t tiles = (N + R - 1) / R;
  const std::int64_t per_task = (tiles + std::min<std::int64_t>(tiles, pool.size()) - 1) /
                                std::min<std::int64_t>(tiles, pool.size());
  const std::int64_t block = std::max<std::int64_t>(
      1, kWBlockBytes / (R * std::max<std::int64_t>(c.K, 1) * std::int64_t{sizeof(fp16)}));
  pool.run((tiles + per_task - 1) / per_task, [&](std::int64_t task, int) {
    const std::int64_t t_end = std::min(tiles, (task + 1) * per_task);
    for (std::int64_t b0 = task * per_task; b0 < t_end; b0 += block) {
      const std::int64_t b_end = std::min(t_end, b0 + block);
      for (std::int64_t m0 = 0; m0 < M; m0 += MC) {
        const int rows = static_cast<int>(std::min<std::int64_t>(MC, M - m0));
        for (std::int64_t t = b0; t < b_end; ++t) {
          const std::int64_t n0 = t * R;
          const int n = static_cast<int>(std::min<std::int64_t>(R, N - n0));
          tile_rows<MC, S, R, A, Z>(rows, c, n0, n, m0, m0 == 0);
        }
      }
    }
  });
}

template <int S>
void run_streams(std::int64_t M, std::int64_t N, const Call& c) {
  constexpr Shape kOne = shape_of(1), kMany = shape_of(kSmallM);
  static_assert(shape_of(2).R == kMany.R);
  constexpr int kOneMC = std::min(1, rows_per_chunk(S, kOne)), kManyMC = rows_per_chunk(S, kMany);
  if (M <= 1) {
    c.z.enabled ? run<S, kOne.R, kOne.A, kOneMC, true>(M, N, c)
                : run<S, kOne.R, kOne.A, kOneMC, false>(M, N, c);
  } else {
    c.z.enabled ? run<S, kMany.R, kMany.A, kManyMC, true>(M, N, c)
                : run<S, kMany.R, kMany.A, kManyMC, false>(M, N, c);
  }
}

}  // namespace
#endif

bool gemm_small_m(ThreadPool& pool, std::int64_t M, const WeightView& wv, std::int64_t ldx,
                  std::int64_t ldy, int n_streams, const GemmStream* streams, bool accumulate,
                  const WPackZ& z) {
#if defined(POCKET_SIMD_SCALAR)
  (void)pool, (void)M, (void)wv, (void)ldx, (void)ldy, (void)n_streams, (void)streams;
  (void)accumulate;
  (void)z;
  return false;
#else
  if (M < 1 || M > kSmallM || wv.format != WeightFormat::kF16) return false;
  // The streams go through in groups of at most two: two unperturbed ones, or two perturbed
  // ones that share a key (one generation of z for both). A stream's sums do not depend on the
  // others in its group, so its bits are the same alone, in a pair or among S = 8: which path a
  // call takes depends on M alone. (Scales of 0 in a group of their own keep the perturbed tile
  // free of per-stream branches.)
  auto live = [&](int s) { return z.enabled && z.scale[s] != 0.0f; };
  for (int s0 = 0; s0 < n_streams;) {
    const bool pair = s0 + 1 < n_streams && live(s0) == live(s0 + 1) &&
                      (!live(s0) || z.group[s0] == z.group[s0 + 1]);
    const int n = pair ? 2 : 1;
    WPackZ gz;
    gz.streams = n;
    gz.index_base = z.index_base;
    if (live(s0)) {
      gz.enabled = true;
      gz.keys = 1;
      gz.key[0] = z.key[z.group[s0]];
      for (int s = 0; s < n; ++s) gz.scale[s] = z.scale[s0 + s];
    }
    const Call c{pool,         wv.cols,      ldx,       ldy, wv.stride,
                 static_cast<const fp16*>(wv.data), streams + s0, accumulate, gz};
    n == 1 ? run_streams<1>(M, wv.rows, c) : run_streams<2>(M, wv.rows, c);
    s0 += n;
  }
  return true;
#endif
}

}  // namespace pocket::gemm_detail
