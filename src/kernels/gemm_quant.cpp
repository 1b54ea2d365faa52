// Integer GEMM driver over ggml block weights: activation quantization, the W panel packer, the
// loops and threads, written once; the micro-kernels live in arch/<isa>/gemm_quant_<isa>.cpp.
// See gemm_quant.h for the sum every path computes.
//
// Loop nest of one task (a range of units: nr-row W panels, or 16-row groups on the small-M path;
// a slice of Y's columns):
//   for each block of X rows (≤ rows_per_block per stream, up to 4 MiB; all rows at M ≤ 16):
//     quantize those rows of every stream → scratch                          (L2/L3)
//     small M:  for each 16-row group, each stream: in-place kernel → acc → Y (+Y_old) (+bias)
//     else:     for each W panel of the task: unpack nr rows × K → bytes + scales      (L2)
//                 for each stream, each mr rows: micro-kernel → acc tile → Y ...
// No K blocking: a panel row holds all of K, so each output's blocks are summed in one chain.
#include "kernels/gemm_quant.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_config.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm_quant_block.h"
#include "kernels/thread_pool.h"

namespace pocket {

namespace scalar {
const GemmQuantKernel& gemm_quant_kernel();
}

namespace {

using gemm_detail::QuantBlock32;

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

// X rows quantized per block and stream: up to 4 MiB of quantized X in all, at least 16 rows
// (a decode step's M ≤ 16 is one block, so W is streamed once), a multiple of mr. A block this
// large lives in L3, not L2, but each X byte it holds is used nr times per load, and a prefill of
// up to ~600 tokens is one block, so each W panel is unpacked once per call.
constexpr std::int64_t kXBlockBytes = 4 * 1024 * 1024;

struct QuantLayout {
  std::int64_t n_blocks;     // K / 32
  std::int64_t rows;         // X rows per block per stream
  std::int64_t q_stride;     // bytes of one quantized X row (K rounded up to 64)
  std::int64_t x_row_bytes;  // q, d and sum16 of one row
  std::int64_t panel_bytes;  // one packed W panel
  std::int64_t acc_offset;   // the acc tile, after the streams' X blocks and the panel
  std::int64_t tag_offset;   // which call's X block the worker's scratch holds (XTag)
  std::int64_t total;
};

QuantLayout quant_layout(const GemmQuantKernel& kernel, std::int64_t M, std::int64_t K,
                         int n_streams) {
  QuantLayout l;
  l.n_blocks = K / kQuantBlock;
  l.q_stride = round_up(std::max<std::int64_t>(K, 1), 64);
  l.x_row_bytes = l.q_stride + round_up(l.n_blocks * 4, 64) + round_up(l.n_blocks * 8, 64);
  const std::int64_t budget = kXBlockBytes / (n_streams * l.x_row_bytes) / kernel.mr * kernel.mr;
  l.rows = std::min(round_up(std::max<std::int64_t>(M, 1), kernel.mr),
                    std::max<std::int64_t>(round_up(16, kernel.mr), budget));
  l.panel_bytes = round_up(kernel.nr * K, 64) + 2 * round_up(l.n_blocks * kernel.nr * 4, 64) +
                  round_up(2 * l.n_blocks * kernel.nr * 4, 64);
  l.acc_offset = n_streams * l.rows * l.x_row_bytes + l.panel_bytes;
  l.tag_offset = l.acc_offset + round_up(4 * std::max(kernel.mr * kernel.nr,
                                                     kGemmQuantSmallM * kGemmQuantRowsNr), 64);
  l.total = l.tag_offset + 64;
  return l;
}

// Scratch views of one X row block (rows × one stream) at `base`.
struct XBlock {
  std::int8_t* q;
  float* d;
  std::int32_t* sum16;
  std::int64_t rows, q_stride, n_blocks;
  QuantRows at(std::int64_t r) const {
    return {q + r * q_stride, d + r * n_blocks, sum16 + r * 2 * n_blocks,
            q_stride,         n_blocks,         2 * n_blocks};
  }
};
XBlock x_block(std::uint8_t* base, const QuantLayout& l) {
  auto* q = reinterpret_cast<std::int8_t*>(base);
  auto* d = reinterpret_cast<float*>(base + l.rows * l.q_stride);
  auto* s = reinterpret_cast<std::int32_t*>(base + l.rows * l.q_stride +
                                            round_up(l.rows * l.n_blocks * 4, 64));
  return {q, d, s, l.rows, l.q_stride, l.n_blocks};
}

using PanelBuffers = QuantPanelOut;
PanelBuffers panel_buffers(std::uint8_t* base, const QuantLayout& l, int nr) {
  std::uint8_t* p = base;
  PanelBuffers out{};
  out.q = p;
  p += round_up(nr * l.n_blocks * kQuantBlock, 64);
  out.scale = reinterpret_cast<float*>(p);
  p += round_up(l.n_blocks * nr * 4, 64);
  out.min = reinterpret_cast<float*>(p);
  p += round_up(l.n_blocks * nr * 4, 64);
  out.sub_scale = reinterpret_cast<std::int32_t*>(p);
  return out;
}

const void* weight_row(const WeightView& w, std::int64_t r) {
  return static_cast<const std::uint8_t*>(w.data) + weight_bytes(w.format, r * w.stride);
}

// Rows [n0, n0 + n) of W → the panel layout of gemm_quant.h (rows n..nr zero).
void pack_panel(const WeightView& w, std::int64_t n0, int n, int nr, std::int64_t n_blocks,
                const PanelBuffers& p) {
  for (int j = 0; j < nr; ++j) {
    const void* row = j < n ? weight_row(w, n0 + j) : nullptr;
    for (std::int64_t b = 0; b < n_blocks; ++b) {
      QuantBlock32 blk;
      if (row != nullptr) {
        blk = gemm_detail::decode_block32(w.format, row, b);
      } else {
        std::memset(blk.q, 0, sizeof blk.q);
      }
      std::uint8_t* dst = p.q + (b * 8 * nr + j) * 4;
      for (int t = 0; t < 8; ++t) std::memcpy(dst + t * nr * 4, blk.q + 4 * t, 4);
      p.scale[b * nr + j] = blk.scale;
      p.min[b * nr + j] = blk.min;
      p.sub_scale[2 * b * nr + j] = blk.sub_scale[0];
      p.sub_scale[(2 * b + 1) * nr + j] = blk.sub_scale[1];
    }
  }
}

// The X block a worker's scratch holds: tasks of one call on the same worker quantize X once.
struct XTag {
  std::uint64_t call;
  std::int64_t m0;
};
std::atomic<std::uint64_t> g_calls{0};

bool has_feature(const CpuFeatures& cpu, const char* name) {
  return name[0] == '\0' ||
         std::find(cpu.features.begin(), cpu.features.end(), name) != cpu.features.end();
}

}  // namespace

void quantize_activations(const float* x, std::int64_t K, std::int8_t* q, float* d,
                          std::int32_t* sum16) {
  for (std::int64_t b = 0; b < K / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    float amax = 0.0f;
    for (int i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    d[b] = db;
    for (int h = 0; h < 2; ++h) {
      std::int32_t s = 0;
      for (int i = 16 * h; i < 16 * h + 16; ++i) {
        // std::round (half away from zero) as trunc and a correction, which compilers vectorize
        // (roundf is a library call): v − trunc(v) is exact.
        const float v = xb[i] * id, t = std::trunc(v);
        const auto q_i = static_cast<std::int8_t>(std::fabs(v - t) >= 0.5f ? t + std::copysign(1.0f, v) : t);
        q[b * kQuantBlock + i] = q_i;
        s += q_i;
      }
      sum16[2 * b + h] = s;
    }
  }
}

std::span<const GemmQuantKernel* const> gemm_quant_kernels() {
  static const std::vector<const GemmQuantKernel*> list = [] {
    const CpuFeatures cpu = detect_cpu_features();
    std::vector<const GemmQuantKernel*> all;
    for (std::span<const GemmQuantKernel> set :
         {avx512::gemm_quant_variants(), avx2::gemm_quant_variants(),
          neon::gemm_quant_variants()}) {
      for (const GemmQuantKernel& k : set) {
        if (cpu_runs(cpu, k.isa) && has_feature(cpu, k.needs)) all.push_back(&k);
      }
    }
    all.push_back(&scalar::gemm_quant_kernel());
    return all;
  }();
  return list;
}

const GemmQuantKernel& gemm_quant_kernel_scalar() { return scalar::gemm_quant_kernel(); }

const GemmQuantKernel& gemm_quant_kernel_native() {
  static const GemmQuantKernel& native = []() -> const GemmQuantKernel& {
    for (const GemmQuantKernel* k : gemm_quant_kernels()) {
      if (same_name(k->isa, cpu_config().gemm.isa)) return *k;
    }
    return gemm_quant_kernel_scalar();
  }();
  return native;
}

std::size_t gemm_quant_scratch_bytes(const GemmQuantKernel& kernel, std::int64_t M, std::int64_t K,
                                     int streams) {
  return static_cast<std::size_t>(quant_layout(kernel, M, K, streams).total);
}

void gemm_quant(ThreadPool& pool, std::int64_t M, const WeightView& w, int n_streams,
                const GemmStream* streams, std::int64_t ldx, std::int64_t ldy, bool accumulate,
                const GemmQuantKernel* kernel_or_null) {
  const GemmQuantKernel& kernel = kernel_or_null ? *kernel_or_null : gemm_quant_kernel_native();
  const std::int64_t N = w.rows, K = w.cols;
  assert(is_quantized(w.format) && K % weight_block_size(w.format) == 0);
  assert(n_streams >= 1 && n_streams <= kMaxStreams && ldx >= K && ldy >= N);
  assert(kernel.mr <= kGemmQuantMaxMr && kernel.nr <= kGemmQuantMaxNr);
  if (M <= 0 || N <= 0) return;

  const QuantLayout layout = quant_layout(kernel, M, K, n_streams);
  pool.reserve_scratch(static_cast<std::size_t>(layout.total));
  // Tasks are ranges of units: 16-row groups for the small-M kernel, nr-row panels otherwise.
  const bool small = M <= kGemmQuantSmallM && kernel.rows != nullptr &&
                     (kernel.rows_formats & format_bit(w.format)) != 0;
  const int unit = small ? kGemmQuantRowsNr : kernel.nr;
  const int acc_ld = small ? kGemmQuantRowsNr : kernel.nr;
  const std::int64_t n_units = (N + unit - 1) / unit;
  const std::int64_t want_tasks = pool.size() == 1 ? 1 : (M <= 64 ? 4 : 1) * pool.size();
  const std::int64_t per_task =
      (n_units + std::min(n_units, want_tasks) - 1) / std::min(n_units, want_tasks);
  const std::int64_t n_tasks = (n_units + per_task - 1) / per_task;

  const GemmQuantActivations quantize =
      kernel.quantize != nullptr ? kernel.quantize : &quantize_activations;
  const std::uint64_t call = ++g_calls;
  pool.run(n_tasks, [&](std::int64_t task, int worker) {
    auto* scratch = static_cast<std::uint8_t*>(pool.scratch(worker));
    XBlock xb[kMaxStreams];
    for (int s = 0; s < n_streams; ++s)
      xb[s] = x_block(scratch + s * layout.rows * layout.x_row_bytes, layout);
    const PanelBuffers panel = panel_buffers(
        scratch + n_streams * layout.rows * layout.x_row_bytes, layout, kernel.nr);
    const QuantPanel qpanel{panel.q, panel.scale, panel.min, panel.sub_scale, layout.n_blocks};
    auto* acc = reinterpret_cast<float*>(scratch + layout.acc_offset);
    auto* tag = reinterpret_cast<XTag*>(scratch + layout.tag_offset);
    const std::int64_t task_begin = task * per_task;
    const std::int64_t task_end = std::min(n_units, task_begin + per_task);

    // Y rows m0 + i0 .. + m, columns n0 .. + n  ←  the acc tile (+ Y_old) (+ bias).
    auto store = [&](int s, std::int64_t row0, int m, std::int64_t n0, int n) {
      for (int i = 0; i < m; ++i) {
        float* y = streams[s].y + (row0 + i) * ldy + n0;
        const float* bias = streams[s].bias ? streams[s].bias + n0 : nullptr;
        for (int j = 0; j < n; ++j) {
          float v = acc[i * acc_ld + j];
          if (accumulate) v = y[j] + v;
          if (bias != nullptr) v += bias[j];
          y[j] = v;
        }
      }
    };

    for (std::int64_t m0 = 0; m0 < M; m0 += layout.rows) {
      const std::int64_t rows = std::min(layout.rows, M - m0);
      const bool have_x = tag->call == call && tag->m0 == m0;
      *tag = {call, m0};
      for (int s = 0; s < n_streams && !have_x; ++s) {
        for (std::int64_t r = 0; r < rows; ++r) {
          const XBlock& x = xb[s];
          quantize(streams[s].x + (m0 + r) * ldx, K, x.q + r * x.q_stride,
                               x.d + r * x.n_blocks, x.sum16 + r * 2 * x.n_blocks);
        }
      }
      for (std::int64_t p = task_begin; p < task_end; ++p) {
        const std::int64_t n0 = p * unit;
        const int n = static_cast<int>(std::min<std::int64_t>(unit, N - n0));
        if (small) {  // rows == M here: layout.rows ≥ 16
          for (int s = 0; s < n_streams; ++s) {
            kernel.rows(w.format, w, n0, n, xb[s].at(0), static_cast<int>(rows), acc);
            store(s, 0, static_cast<int>(rows), n0, n);
          }
          continue;
        }
        if (kernel.pack == nullptr || !kernel.pack(w, n0, n, panel)) {
          pack_panel(w, n0, n, kernel.nr, layout.n_blocks, panel);
        }
        for (int s = 0; s < n_streams; ++s) {
          for (std::int64_t i0 = 0; i0 < rows; i0 += kernel.mr) {
            const int m = static_cast<int>(std::min<std::int64_t>(kernel.mr, rows - i0));
            kernel.ukernel(w.format, qpanel, xb[s].at(i0), m, acc);
            store(s, m0 + i0, m, n0, n);
          }
        }
      }
    }
  });
}

void gemm_quant_ref(std::int64_t M, const WeightView& w, const GemmStream& stream, std::int64_t ldx,
                    std::int64_t ldy, bool accumulate) {
  const std::int64_t N = w.rows, K = w.cols, n_blocks = K / kQuantBlock;
  std::vector<std::int8_t> xq(static_cast<std::size_t>(K));
  std::vector<float> xd(static_cast<std::size_t>(n_blocks));
  std::vector<std::int32_t> xs(static_cast<std::size_t>(2 * n_blocks));
  for (std::int64_t m = 0; m < M; ++m) {
    quantize_activations(stream.x + m * ldx, K, xq.data(), xd.data(), xs.data());
    for (std::int64_t n = 0; n < N; ++n) {
      const void* row = weight_row(w, n);
      float acc = 0.0f;
      for (std::int64_t b = 0; b < n_blocks; ++b) {
        const QuantBlock32 blk = gemm_detail::decode_block32(w.format, row, b);
        const std::int8_t* x = xq.data() + b * kQuantBlock;
        std::int32_t dot[2] = {0, 0};
        for (int l = 0; l < kQuantBlock; ++l) {
          const std::int32_t wq = w.format == WeightFormat::kQ8_0
                                      ? static_cast<std::int8_t>(blk.q[l])
                                      : static_cast<std::int32_t>(blk.q[l]);
          dot[l / 16] += wq * x[l];
        }
        const std::int32_t i = gemm_detail::block_int_dot(w.format, dot[0], dot[1], xs[2 * b],
                                                          xs[2 * b + 1], blk.sub_scale);
        acc = gemm_detail::add_block_term(w.format, acc, i, blk.scale, blk.min, xd[b],
                                          xs[2 * b] + xs[2 * b + 1]);
      }
      float v = acc;
      if (accumulate) v = stream.y[m * ldy + n] + v;
      if (stream.bias != nullptr) v += stream.bias[n];
      stream.y[m * ldy + n] = v;
    }
  }
}

}  // namespace pocket
