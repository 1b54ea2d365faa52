#include "kernels/gemm_small_m.h"

#include <algorithm>

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

constexpr int kRows = 4;  // W rows per tile: M·S·kRows ≤ 16 accumulators

// Decode streams every weight once from DRAM through kRows concurrent row streams. The hardware
// prefetcher alone kept them at ~0.75 of a plain read loop's bandwidth; a software prefetch this
// far ahead in each row (768 bytes, 12 cache lines) brings that to ~0.9 (measured on Sapphire
// Rapids with 1.8 GB of matrices, 1 and 2 threads: 12.0 -> 13.8 and 23.0 -> 26.9 GB/s).
// Prefetching past a row's end is harmless: prefetches never fault.
constexpr std::int64_t kPrefetchAhead = 384;  // fp16 elements

// One tile: rows [n0, n0 + n) of W against M rows of X for S streams, over all of K.
//   acc[s][m][j] = Σ_chunks x_s[m, chunk] ⊙ (W[j, chunk] + scale_s·z[j, chunk])
// then one horizontal sum each, plus the ragged end of K summed in k order.
template <int M, int S>
void small_m_tile(std::int64_t K, std::int64_t ldx, const fp16* w, std::int64_t ldw,
                  std::int64_t n0, int n, std::int64_t ldy, const GemmStream* streams,
                  bool accumulate, const WPackZ& z) {
  constexpr int L = kFloatLanes;
  vfloat acc[S][M][kRows];
  for (int s = 0; s < S; ++s) {
    for (int m = 0; m < M; ++m) {
      for (int j = 0; j < kRows; ++j) acc[s][m][j] = vfloat(0.0f);
    }
  }
  const fp16* rows[kRows];
  for (int j = 0; j < kRows; ++j) rows[j] = w + (n0 + std::min(j, n - 1)) * ldw;
  ZBitReader bits[kRows] = {ZBitReader(z.key[0], z.index_base + (n0 + std::min(0, n - 1)) * ldw),
                            ZBitReader(z.key[0], z.index_base + (n0 + std::min(1, n - 1)) * ldw),
                            ZBitReader(z.key[0], z.index_base + (n0 + std::min(2, n - 1)) * ldw),
                            ZBitReader(z.key[0], z.index_base + (n0 + std::min(3, n - 1)) * ldw)};
  const std::int64_t k_simd = K / L * L;
  for (std::int64_t k = 0; k < k_simd; k += L) {
    vfloat xv[S][M];
    for (int s = 0; s < S; ++s) {
      for (int m = 0; m < M; ++m) xv[s][m] = vfloat::load_unaligned(streams[s].x + m * ldx + k);
    }
#pragma GCC unroll 4
    for (int j = 0; j < kRows; ++j) {
      __builtin_prefetch(rows[j] + k + kPrefetchAhead);
      const vfloat wv = load_f16(rows[j] + k);
      if (!z.enabled) {  // every stream reads W itself
        for (int s = 0; s < S; ++s) {
          for (int m = 0; m < M; ++m) acc[s][m][j] = fmadd(xv[s][m], wv, acc[s][m][j]);
        }
        continue;
      }
      const std::uint32_t zbits = bits[j].take(L);
      for (int s = 0; s < S; ++s) {
        const vfloat wp = z.scale[s] == 0.0f ? wv : wv + signed_lanes(zbits, z.scale[s]);
        for (int m = 0; m < M; ++m) acc[s][m][j] = fmadd(xv[s][m], wp, acc[s][m][j]);
      }
    }
  }
  // Horizontal sums, L accumulators per call.
  constexpr int kTile = S * M * kRows;
  constexpr int kGroups = (kTile + L - 1) / L;
  alignas(64) float sums[kGroups * L];
  for (int g = 0; g < kGroups; ++g) {
    vfloat group[L];
    for (int r = 0; r < L; ++r) {
      const int t = g * L + r;
      group[r] = t < kTile ? acc[t / (M * kRows)][t / kRows % M][t % kRows] : vfloat(0.0f);
    }
    sum_each_row(group).store_aligned(sums + g * L);
  }
  for (int j = 0; j < n; ++j) {
    float wt[L];  // the ragged end of row j, perturbed per stream below
    std::uint32_t zt = 0;
    const int tail = static_cast<int>(K - k_simd);
    for (int k = 0; k < tail; ++k) wt[k] = f16_to_f32_scalar(rows[j][k_simd + k]);
    if (z.enabled && tail > 0) zt = bits[j].take(tail);
    for (int s = 0; s < S; ++s) {
      for (int m = 0; m < M; ++m) {
        float v = sums[(s * M + m) * kRows + j];
        float rest = 0.0f;
        for (int k = 0; k < tail; ++k) {
          float wk = wt[k];
          if (z.enabled && z.scale[s] != 0.0f) wk += ((zt >> k) & 1u) ? z.scale[s] : -z.scale[s];
          rest += streams[s].x[m * ldx + k_simd + k] * wk;
        }
        v += rest;
        float* y = streams[s].y + m * ldy + n0 + j;
        if (accumulate) v = *y + v;
        if (streams[s].bias != nullptr) v += streams[s].bias[n0 + j];
        *y = v;
      }
    }
  }
}

template <int M, int S>
void small_m_run(std::int64_t N, std::int64_t K, std::int64_t ldx, const fp16* w, std::int64_t ldw,
                 std::int64_t ldy, const GemmStream* streams, bool accumulate, const WPackZ& z) {
  ThreadPool& pool = default_pool();
  const std::int64_t tiles = (N + kRows - 1) / kRows;
  const std::int64_t n_tasks =
      std::min<std::int64_t>(tiles, pool.size() == 1 ? 1 : 8 * pool.size());
  const std::int64_t per_task = (tiles + n_tasks - 1) / n_tasks;
  pool.run((tiles + per_task - 1) / per_task, [&](std::int64_t task, int) {
    const std::int64_t t_end = std::min(tiles, (task + 1) * per_task);
    for (std::int64_t t = task * per_task; t < t_end; ++t) {
      const std::int64_t n0 = t * kRows;
      const int n = static_cast<int>(std::min<std::int64_t>(kRows, N - n0));
      small_m_tile<M, S>(K, ldx, w, ldw, n0, n, ldy, streams, accumulate, z);
    }
  });
}

}  // namespace
#endif

bool gemm_small_m(std::int64_t M, const WeightView& wv, std::int64_t ldx, std::int64_t ldy,
                  int n_streams, const GemmStream* streams, bool accumulate, const WPackZ& z) {
#if defined(POCKET_SIMD_SCALAR)
  (void)M, (void)wv, (void)ldx, (void)ldy, (void)n_streams, (void)streams, (void)accumulate;
  (void)z;
  return false;
#else
  if (M < 1 || M > kSmallM || wv.format != WeightFormat::kF16 || n_streams > 2 || z.keys > 1) {
    return false;
  }
  const std::int64_t N = wv.rows, K = wv.cols, ldw = wv.stride;
  const auto* w = static_cast<const fp16*>(wv.data);
  if (M == 1 && n_streams == 1) small_m_run<1, 1>(N, K, ldx, w, ldw, ldy, streams, accumulate, z);
  if (M == 2 && n_streams == 1) small_m_run<2, 1>(N, K, ldx, w, ldw, ldy, streams, accumulate, z);
  if (M == 1 && n_streams == 2) small_m_run<1, 2>(N, K, ldx, w, ldw, ldy, streams, accumulate, z);
  if (M == 2 && n_streams == 2) small_m_run<2, 2>(N, K, ldx, w, ldw, ldy, streams, accumulate, z);
  return true;
#endif
}

}  // namespace pocket::gemm_detail
