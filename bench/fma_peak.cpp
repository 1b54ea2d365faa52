// FMA peak: each thread runs kChains independent accumulators through a·x + b, enough chains
// to cover FMA latency × FMA ports on every core we target (4-cycle latency × 2 ports = 8 on
// x86; 4 × 4 = 16 on big ARM cores), and reports 2·lanes·chains·iterations / time.
#include "fma_peak.h"

#include <atomic>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kernels/simd.h"

namespace pocket::bench {

namespace {

constexpr int kChains = 16;
volatile float g_sink;  // keeps the chains' results observable
constexpr long kInner = 1 << 14;

#if !defined(POCKET_SIMD_SCALAR)
using Vec = vfloat;
constexpr int kLanes = kFloatLanes;
inline Vec fma(Vec a, Vec b, Vec c) { return fmadd(a, b, c); }
inline float first(Vec v) { return reduce_sum(v); }
#else
using Vec = float;
constexpr int kLanes = 1;
inline Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float first(Vec v) { return v; }
#endif

// Runs `blocks` blocks of kInner iterations; the result is returned so nothing is optimised out.
float fma_chains(long blocks, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vec(seed + c);
  const Vec a(0.999999f), b(1e-7f);
  for (long blk = 0; blk < blocks; ++blk) {
    for (long i = 0; i < kInner; ++i) {
#pragma GCC unroll 16
      for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], a, b);
    }
  }
  Vec sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = sum + acc[c];
  return first(sum);
}

}  // namespace

double measure_fma_peak_gflops(int threads, double seconds) {
  // Calibrate the block count on one thread, then run every thread with it at once; each thread
  // times itself after a start barrier, and the peak is the sum of the threads' rates.
  long blocks = 1;
  for (;;) {
    const double t0 = now_seconds();
    g_sink = fma_chains(blocks, 1.0f);
    if (now_seconds() - t0 > seconds / 4 || blocks > (1L << 20)) break;
    blocks *= 2;
  }
  blocks *= 4;
  const double flops_per_thread = 2.0 * kLanes * kChains * static_cast<double>(kInner) * blocks;
  std::vector<double> rate(threads, 0.0);
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      const double t0 = now_seconds();
      const float r = fma_chains(blocks, 1.0f + t);
      rate[t] = flops_per_thread / (now_seconds() - t0);
      if (r == 12345.0f) g_sink = r;
    });
  }
  for (auto& w : workers) w.join();
  double total = 0.0;
  for (double r : rate) total += r;
  return total / 1e9;
}

}  // namespace pocket::bench
