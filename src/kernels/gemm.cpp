// GEMM driver: blocking loops, packing and threads, written once for every ISA (BLIS structure;
// the ISA lives in the micro-kernel, gemm_ukernel_<isa>.cpp). See gemm.h and gemm_kernel.h.
//
// Loop nest of one task (a range of NR-row panels of W, i.e. a slice of Y's columns):
//   for each K block pc (kc ≤ KC):                        partial sums of every Y tile, in order
//     for each X block of ≤ MB/S rows:  pack X rows → MR-row panels           (L2, per stream)
//       for each W panel in the task:   pack W rows (fp16 → fp32, + c·z) → NR-row panel (L1)
//         for each stream, X panel:     micro-kernel: Y tile (+)= X panel · W panelᵀ
// At M ≤ 2 (decode steps) packing W costs more than using it: gemm_small_m.cpp reads W in place.
// Tasks split Y by columns only; every Y element is the same sequence of fp32 operations
// whichever thread computes it, so results are identical for any thread count.
#include "kernels/gemm.h"

#include <algorithm>
#include <cassert>

#include "kernels/gemm_pack.h"
#include "kernels/gemm_small_m.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"

namespace pocket {

namespace {

struct Stream {
  const float* x;
  float* y;
  const float* bias;
};

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

struct ScratchLayout {
  std::int64_t x_floats;  // one stream's packed X block
  std::int64_t w_floats;  // one stream's packed W panel
};

// X rows packed per block: mb is the L2 budget of all streams together, so two streams take
// half as many rows each (a multiple of mr).
std::int64_t rows_per_x_block(const GemmBlocking& b, int n_streams) {
  return std::max<std::int64_t>(b.mr, b.mb / n_streams / b.mr * b.mr);
}

ScratchLayout scratch_layout(const GemmBlocking& b, std::int64_t M, std::int64_t K,
                             int n_streams) {
  const std::int64_t kcp = std::min<std::int64_t>(b.kc, round_up(std::max<std::int64_t>(K, 1),
                                                                 b.lanes));
  const std::int64_t rows = std::min(rows_per_x_block(b, n_streams), round_up(M, b.mr));
  return {rows * kcp, static_cast<std::int64_t>(b.nr) * kcp};
}

void gemm_driver(const GemmKernel& kernel, std::int64_t M, std::int64_t N, std::int64_t K,
                 std::int64_t ldx, const fp16* w, std::int64_t ldw, std::int64_t ldy,
                 int n_streams, const Stream* streams, bool accumulate,
                 const gemm_detail::WPackZ& z) {
  if (M <= 0 || N <= 0) return;
  if (&kernel == &gemm_kernel_native() && M <= gemm_detail::kSmallM) {
    gemm_detail::SmallMStream small[2];
    for (int s = 0; s < n_streams; ++s) small[s] = {streams[s].x, streams[s].y, streams[s].bias};
    if (gemm_detail::gemm_small_m(M, N, K, ldx, w, ldw, ldy, n_streams, small, accumulate, z)) {
      return;
    }
  }
  const GemmBlocking& b = kernel.blocking;
  assert(blocking_is_valid(b));
  assert(ldx >= K && ldw >= K && ldy >= N);

  ThreadPool& pool = default_pool();
  const ScratchLayout layout = scratch_layout(b, M, K, n_streams);
  const std::int64_t mb_rows = rows_per_x_block(b, n_streams);
  pool.reserve_scratch(sizeof(float) * n_streams * (layout.x_floats + layout.w_floats));

  // Small M leaves the X packing negligible, so more tasks than threads balance the load; at
  // large M each task repacks X, so one task per thread.
  const std::int64_t n_panels = (N + b.nr - 1) / b.nr;
  const std::int64_t want_tasks = pool.size() == 1 ? 1 : (M <= 64 ? 4 : 1) * pool.size();
  const std::int64_t per_task = (n_panels + std::min(n_panels, want_tasks) - 1) /
                                std::min(n_panels, want_tasks);
  const std::int64_t n_tasks = (n_panels + per_task - 1) / per_task;

  pool.run(n_tasks, [&](std::int64_t task, int worker) {
    float* scratch = static_cast<float*>(pool.scratch(worker));
    float* xpack[2] = {scratch, scratch + layout.x_floats};
    float* wpack[2] = {scratch + n_streams * layout.x_floats,
                       scratch + n_streams * layout.x_floats + layout.w_floats};
    const std::int64_t p_begin = task * per_task;
    const std::int64_t p_end = std::min(n_panels, p_begin + per_task);

    for (std::int64_t pc = 0;;) {
      const int kc = static_cast<int>(std::min<std::int64_t>(b.kc, K - pc));
      const int kcp = static_cast<int>(round_up(kc, b.lanes));
      const bool first = pc == 0;
      for (std::int64_t m0 = 0; m0 < M; m0 += mb_rows) {
        const std::int64_t mb = std::min<std::int64_t>(mb_rows, M - m0);
        for (int s = 0; s < n_streams; ++s) {
          for (std::int64_t i0 = 0; i0 < mb; i0 += b.mr) {
            const int m = static_cast<int>(std::min<std::int64_t>(b.mr, mb - i0));
            gemm_detail::pack_x_panel(streams[s].x + (m0 + i0) * ldx + pc, ldx, m, kc, kcp,
                                      b.lanes, xpack[s] + i0 * kcp);
          }
        }
        for (std::int64_t p = p_begin; p < p_end; ++p) {
          const std::int64_t n0 = p * b.nr;
          const int n = static_cast<int>(std::min<std::int64_t>(b.nr, N - n0));
          gemm_detail::pack_w_panel(w, ldw, n0, n, b.nr, pc, kc, kcp, b.lanes, n_streams, wpack,
                                    z);
          // One stream at a time, so only its W panel needs to stay in L1.
          for (int s = 0; s < n_streams; ++s) {
            for (std::int64_t i0 = 0; i0 < mb; i0 += b.mr) {
              const int m = static_cast<int>(std::min<std::int64_t>(b.mr, mb - i0));
              const float* bias = first && streams[s].bias ? streams[s].bias + n0 : nullptr;
              kernel.ukernel[m](kcp, xpack[s] + i0 * kcp, wpack[s],
                                streams[s].y + (m0 + i0) * ldy + n0, ldy, n, bias,
                                first ? accumulate : true);
            }
          }
        }
      }
      pc += b.kc;
      if (pc >= K) break;
    }
  });
}

}  // namespace

std::size_t gemm_scratch_bytes(const GemmKernel& kernel, std::int64_t M, std::int64_t K,
                               int streams) {
  const ScratchLayout layout = scratch_layout(kernel.blocking, M, K, streams);
  return sizeof(float) * streams * (layout.x_floats + layout.w_floats);
}

void gemm_f16w(std::int64_t M, std::int64_t N, std::int64_t K, const float* x, std::int64_t ldx,
               const fp16* w, std::int64_t ldw, float* y, std::int64_t ldy,
               const GemmOptions& options, const GemmPerturbation* perturbation) {
  const GemmKernel& kernel = options.kernel ? *options.kernel : gemm_kernel_native();
  gemm_detail::WPackZ z;
  if (perturbation != nullptr && perturbation->scale != 0.0f) {
    z.enabled = true;
    z.z_key = perturbation->z_key;
    z.index_base = perturbation->index_base;
    z.scale[0] = perturbation->scale;
  }
  const Stream stream{x, y, options.bias};
  gemm_driver(kernel, M, N, K, ldx, w, ldw, ldy, 1, &stream, options.accumulate, z);
}

void gemm_f16w_two_stream(std::int64_t M, std::int64_t N, std::int64_t K, const float* x_plus,
                          const float* x_minus, std::int64_t ldx, const fp16* w, std::int64_t ldw,
                          float* y_plus, float* y_minus, std::int64_t ldy,
                          const GemmPerturbation& perturbation, TwoStreamBias bias,
                          const GemmOptions& options) {
  const GemmKernel& kernel = options.kernel ? *options.kernel : gemm_kernel_native();
  gemm_detail::WPackZ z;
  z.enabled = true;
  z.z_key = perturbation.z_key;
  z.index_base = perturbation.index_base;
  z.scale[0] = perturbation.scale;
  z.scale[1] = -perturbation.scale;
  const Stream streams[2] = {{x_plus, y_plus, bias.plus}, {x_minus, y_minus, bias.minus}};
  gemm_driver(kernel, M, N, K, ldx, w, ldw, ldy, 2, streams, options.accumulate, z);
}

void gemm_f16w_ref(std::int64_t M, std::int64_t N, std::int64_t K, const float* x,
                   std::int64_t ldx, const fp16* w, std::int64_t ldw, float* y, std::int64_t ldy,
                   const float* bias, bool accumulate, const GemmPerturbation* perturbation) {
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) {
        float wv = f16_to_f32_scalar(w[n * ldw + k]);
        if (perturbation != nullptr && perturbation->scale != 0.0f) {
          const auto i = static_cast<std::uint64_t>(perturbation->index_base + n * ldw + k);
          wv += perturbation->scale * z_sign(perturbation->z_key, i);
        }
        acc += x[m * ldx + k] * wv;
      }
      float v = acc;
      if (accumulate) v = y[m * ldy + n] + v;
      if (bias != nullptr) v += bias[n];
      y[m * ldy + n] = v;
    }
  }
}

}  // namespace pocket
