// Read bandwidth: Σ of 32-bit words over the memory, in parallel chunks, timed per pass.
//
// Integer adds, not float adds: the bytes may be any bit pattern (fp16 weights read as 32-bit
// words give denormals and NaNs), and integer adds have no slow cases. Eight accumulators of the
// widest batch: one 512-byte step per iteration on AVX-512 keeps several cache lines in flight
// per thread, which is what a streaming read needs to reach the DRAM bandwidth.
#include "read_bandwidth.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "bench_util.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"

namespace pocket::bench {

namespace {

constexpr std::size_t kChunk = std::size_t{4} << 20;  // bytes one task reads
constexpr int kAccumulators = 8;
volatile std::uint64_t g_sink;  // keeps the sums observable

// Σ of the 32-bit words of [p, p + n) (wrapping), plus the trailing bytes.
std::uint64_t sum_words(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  std::uint64_t total = 0;
#if !defined(POCKET_SIMD_SCALAR)
  using Words = xsimd::batch<std::uint32_t>;
  constexpr std::size_t kStep = Words::size * sizeof(std::uint32_t);
  Words acc[kAccumulators];
  for (Words& a : acc) a = Words(0u);
  for (; i + kAccumulators * kStep <= n; i += kAccumulators * kStep) {
#pragma GCC unroll 8
    for (int a = 0; a < kAccumulators; ++a) {
      acc[a] += Words::load_unaligned(reinterpret_cast<const std::uint32_t*>(p + i + a * kStep));
    }
  }
  for (; i + kStep <= n; i += kStep) {
    acc[0] += Words::load_unaligned(reinterpret_cast<const std::uint32_t*>(p + i));
  }
  for (int a = 1; a < kAccumulators; ++a) acc[0] += acc[a];
  alignas(64) std::uint32_t lanes[Words::size];
  acc[0].store_aligned(lanes);
  for (std::uint32_t lane : lanes) total += lane;
#else
  std::uint64_t acc[kAccumulators] = {};
  for (; i + kAccumulators * 8 <= n; i += kAccumulators * 8) {
    for (int a = 0; a < kAccumulators; ++a) {
      std::uint64_t word;
      std::memcpy(&word, p + i + a * 8, 8);
      acc[a] += word;
    }
  }
  for (std::uint64_t a : acc) total += a;
#endif
  for (; i < n; ++i) total += p[i];
  return total;
}

}  // namespace

ReadBandwidth measure_read_bandwidth(const std::vector<std::span<const std::uint8_t>>& regions,
                                     int reps) {
  std::vector<std::span<const std::uint8_t>> chunks;
  double bytes = 0.0;
  for (const auto& region : regions) {
    for (std::size_t begin = 0; begin < region.size(); begin += kChunk) {
      chunks.push_back(region.subspan(begin, std::min(kChunk, region.size() - begin)));
    }
    bytes += static_cast<double>(region.size());
  }
  std::vector<std::uint64_t> sums(chunks.size());
  auto pass = [&] {
    const double t0 = now_seconds();
    default_pool().run(static_cast<std::int64_t>(chunks.size()), [&](std::int64_t c, int) {
      sums[static_cast<std::size_t>(c)] = sum_words(chunks[c].data(), chunks[c].size());
    });
    const double seconds = now_seconds() - t0;
    std::uint64_t total = 0;
    for (std::uint64_t s : sums) total += s;
    g_sink = total;
    return seconds;
  };
  pass();
  std::vector<double> gbps;
  for (int r = 0; r < std::max(reps, 1); ++r) gbps.push_back(bytes / pass() / 1e9);
  std::sort(gbps.begin(), gbps.end());
  return {bytes, gbps[gbps.size() / 2], gbps.back()};
}

ReadBandwidth measure_read_bandwidth(std::size_t bytes, int reps) {
  const std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[bytes]);
  const std::int64_t n_chunks = static_cast<std::int64_t>((bytes + kChunk - 1) / kChunk);
  default_pool().run(n_chunks, [&](std::int64_t c, int) {
    const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
    std::memset(buffer.get() + begin, 0x5A, std::min(kChunk, bytes - begin));
  });
  return measure_read_bandwidth({std::span<const std::uint8_t>(buffer.get(), bytes)}, reps);
}

}  // namespace pocket::bench
