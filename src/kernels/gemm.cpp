// GEMM driver: blocking loops, packing and threads, written once for every ISA (BLIS structure;
// the ISA lives in the micro-kernel, gemm_ukernel_<isa>.cpp). See gemm.h and gemm_kernel.h.
//
// Loop nest of one task (a range of NR-row panels of W, i.e. a slice of Y's columns):
//   for each K block pc (kc ≤ KC):                        partial sums of every Y tile, in order
//     for each X block of ≤ MB/S rows:  pack X rows → MR-row panels           (L2, per stream)
//       for each W panel of the task:   pack W rows (fp16/fp32 → fp32, + c·z per stream) → S
//                                       copies of an NR-row panel (or one, unperturbed)  (L1)
//         for each stream, X panel:     micro-kernel: Y tile (+)= X panel · W panelᵀ
// W is packed once per X block, i.e. about ⌈M·S/MB⌉ times per K block: a packing (a load, a
// convert, S stores per W vector) then serves MB/S rows of FMAs, and the panel packed just before
// use is read from L1. The BLIS order
// (jc → pc: a W block of NC rows packed once, then every X block) was measured against this one
// on Zen 5 (M = 512/1024, 2 threads, interleaved medians): 13-16 % slower plain, 23-26 % with
// two streams, since the W block (NC·KC·4 bytes per stream) and the X block (MB·KC·4) together
// overflow the 1 MiB L2 and the micro-kernel then reads both operands from L2/L3.
// Every Y element takes its K blocks in order, the same fp32 operation sequence for any nest.
// At M ≤ 2 (decode steps) packing W costs more than using it: gemm_small_m.cpp reads W in place.
// Tasks split Y by columns only; every Y element is the same sequence of fp32 operations
// whichever thread computes it, so results are identical for any thread count.
#include "kernels/gemm.h"

#include <algorithm>
#include <cassert>
#include <vector>

#include "kernels/gemm_pack.h"
#include "kernels/gemm_quant.h"
#include "kernels/gemm_small_m.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"

namespace pocket {

namespace {

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

ScratchLayout scratch_layout(const GemmBlocking& b, std::int64_t M, std::int64_t K, int n_streams) {
  const std::int64_t kcp =
      std::min<std::int64_t>(b.kc, round_up(std::max<std::int64_t>(K, 1), b.lanes));
  const std::int64_t rows = std::min(rows_per_x_block(b, n_streams), round_up(M, b.mr));
  return {rows * kcp, static_cast<std::int64_t>(b.nr) * kcp};
}

std::int64_t scratch_floats(const ScratchLayout& l, int n_streams) {
  return n_streams * (l.x_floats + l.w_floats);
}

void gemm_driver(ThreadPool& pool, const GemmKernel& kernel, std::int64_t M, const WeightView& w,
                 std::int64_t ldx, std::int64_t ldy, int n_streams, const GemmStream* streams,
                 bool accumulate, const gemm_detail::WPackZ& z) {
  const std::int64_t N = w.rows, K = w.cols;
  if (M <= 0 || N <= 0) return;
  if (&kernel == &gemm_kernel_native() && M <= gemm_detail::kSmallM &&
      gemm_detail::gemm_small_m(pool, M, w, ldx, ldy, n_streams, streams, accumulate, z)) {
    return;
  }
  const GemmBlocking& b = kernel.blocking;
  assert(blocking_is_valid(b));
  assert(ldx >= K && w.stride >= K && ldy >= N);

  const ScratchLayout layout = scratch_layout(b, M, K, n_streams);
  const std::int64_t mb_rows = rows_per_x_block(b, n_streams);
  pool.reserve_scratch(sizeof(float) * scratch_floats(layout, n_streams));
  const int copies = z.enabled ? n_streams : 1;  // packed copies of each W panel

  // Small M leaves the X packing negligible, so more tasks than threads balance the load; at
  // large M each task repacks X, so one task per thread.
  const std::int64_t n_panels = (N + b.nr - 1) / b.nr;
  const std::int64_t want_tasks = pool.size() == 1 ? 1 : (M <= 64 ? 4 : 1) * pool.size();
  const std::int64_t per_task =
      (n_panels + std::min(n_panels, want_tasks) - 1) / std::min(n_panels, want_tasks);
  const std::int64_t n_tasks = (n_panels + per_task - 1) / per_task;

  pool.run(n_tasks, [&](std::int64_t task, int worker) {
    float* scratch = static_cast<float*>(pool.scratch(worker));
    float* xpack[kMaxStreams];
    for (int s = 0; s < n_streams; ++s) xpack[s] = scratch + s * layout.x_floats;
    float* const wpanel = scratch + n_streams * layout.x_floats;  // its S copies
    const std::int64_t task_begin = task * per_task;
    const std::int64_t task_end = std::min(n_panels, task_begin + per_task);

    // X rows [m0, m0 + mb) of every stream over the K block [pc, pc + kc) -> xpack.
    auto pack_x = [&](std::int64_t m0, std::int64_t mb, std::int64_t pc, int kc, int kcp) {
      for (int s = 0; s < n_streams; ++s) {
        for (std::int64_t i0 = 0; i0 < mb; i0 += b.mr) {
          const int m = static_cast<int>(std::min<std::int64_t>(b.mr, mb - i0));
          gemm_detail::pack_x_panel(streams[s].x + (m0 + i0) * ldx + pc, ldx, m, kc, kcp, b.lanes,
                                    xpack[s] + i0 * kcp);
        }
      }
    };
    // W panel p (its packed copies at wpanel + c·nr·kcp) against the packed X rows, one stream
    // at a time, so that only that stream's copy needs to stay in L1.
    auto multiply = [&](std::int64_t p, std::int64_t m0, std::int64_t mb, int kcp, bool first) {
      const std::int64_t n0 = p * b.nr;
      const int n = static_cast<int>(std::min<std::int64_t>(b.nr, N - n0));
      for (int s = 0; s < n_streams; ++s) {
        const float* ws = wpanel + (copies == 1 ? 0 : s) * b.nr * kcp;
        for (std::int64_t i0 = 0; i0 < mb; i0 += b.mr) {
          const int m = static_cast<int>(std::min<std::int64_t>(b.mr, mb - i0));
          const float* bias = first && streams[s].bias ? streams[s].bias + n0 : nullptr;
          kernel.ukernel[m](kcp, xpack[s] + i0 * kcp, ws, streams[s].y + (m0 + i0) * ldy + n0,
                            ldy, n, bias, first ? accumulate : true);
        }
      }
    };
    // W rows [p·nr, p·nr + nr) over the K block -> wpanel, one copy per perturbed stream.
    auto pack_w = [&](std::int64_t p, std::int64_t pc, int kc, int kcp) {
      float* dst[kMaxStreams];
      for (int c = 0; c < copies; ++c) dst[c] = wpanel + c * b.nr * kcp;
      const std::int64_t n0 = p * b.nr;
      const int n = static_cast<int>(std::min<std::int64_t>(b.nr, N - n0));
      gemm_detail::pack_w_panel(w, n0, n, b.nr, pc, kc, kcp, b.lanes, dst, z);
    };

    for (std::int64_t pc = 0; pc == 0 || pc < K; pc += b.kc) {  // once at K = 0: bias, zeros
      const int kc = static_cast<int>(std::min<std::int64_t>(b.kc, K - pc));
      const int kcp = static_cast<int>(round_up(kc, b.lanes));
      const bool first = pc == 0;
      for (std::int64_t m0 = 0; m0 < M; m0 += mb_rows) {
        const std::int64_t mb = std::min<std::int64_t>(mb_rows, M - m0);
        pack_x(m0, mb, pc, kc, kcp);
        for (std::int64_t p = task_begin; p < task_end; ++p) {
          pack_w(p, pc, kc, kcp);
          multiply(p, m0, mb, kcp, first);
        }
      }
    }
  });
}

}  // namespace

std::size_t gemm_scratch_bytes(const GemmKernel& kernel, std::int64_t M, std::int64_t K,
                               int streams) {
  return std::max(
      sizeof(float) * scratch_floats(scratch_layout(kernel.blocking, M, K, streams), streams),
      gemm_quant_scratch_bytes(gemm_quant_kernel_native(), M, K, streams));
}

void gemm(std::int64_t M, const WeightView& w, int n_streams, const GemmStream* streams,
          std::int64_t ldx, std::int64_t ldy, const GemmOptions& options,
          const WeightPerturbation* z) {
  assert(n_streams >= 1 && n_streams <= kMaxStreams);
  assert(z == nullptr || z->streams == 0 || z->streams == n_streams);
  ThreadPool& pool = options.pool ? *options.pool : default_pool();
  // Block formats read unperturbed go through the integer GEMM (gemm_quant.h); perturbed ones
  // through the packer, which dequantizes.
  const bool perturbed =
      z != nullptr && std::any_of(z->scale, z->scale + z->streams, [](float c) { return c != 0; });
  if (is_quantized(w.format) && !perturbed) {
    gemm_quant(pool, M, w, n_streams, streams, ldx, ldy, options.accumulate);
    return;
  }
  const GemmKernel& kernel = options.kernel ? *options.kernel : gemm_kernel_native();
  gemm_driver(pool, kernel, M, w, ldx, ldy, n_streams, streams, options.accumulate,
              gemm_detail::make_wpack_z(n_streams, z));
}

void gemm_ref(std::int64_t M, const WeightView& w, const GemmStream& stream, std::int64_t ldx,
              std::int64_t ldy, bool accumulate, std::uint64_t z_key, float scale,
              std::int64_t index_base) {
  const std::int64_t N = w.rows, K = w.cols, ldw = w.stride;
  // Row n of W in fp32 (dequantize_row: exact for F16/F32, llama.cpp's values for the blocks).
  std::vector<float> w_row(static_cast<std::size_t>(K));
  const std::size_t element = w.format == WeightFormat::kF16 ? sizeof(fp16) : sizeof(float);
  for (std::int64_t n = 0; n < N; ++n) {
    const char* row =
        static_cast<const char*>(w.data) +
        (is_quantized(w.format) ? weight_bytes(w.format, n * ldw) : n * ldw * element);
    dequantize_row(w.format, row, w_row.data(), K);
    for (std::int64_t m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (std::int64_t k = 0; k < K; ++k) {
        float wv = w_row[k];
        if (scale != 0.0f) {
          wv += scale * z_sign(z_key, static_cast<std::uint64_t>(index_base + n * ldw + k));
        }
        acc += stream.x[m * ldx + k] * wv;
      }
      float v = acc;
      if (accumulate) v = stream.y[m * ldy + n] + v;
      if (stream.bias != nullptr) v += stream.bias[n];
      stream.y[m * ldy + n] = v;
    }
  }
}

}  // namespace pocket
