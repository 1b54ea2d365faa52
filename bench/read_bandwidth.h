// Measured memory read bandwidth: the ceiling of every weight-streaming step. A decode step at
// batch 1 reads each weight once and does two flops with it, so its speed is bytes / bandwidth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pocket::bench {

struct ReadBandwidth {
  double bytes = 0.0;        // read by one pass
  double median_gbps = 0.0;  // median over the timed passes
  double best_gbps = 0.0;    // fastest timed pass
};

// Reads every byte of `regions` once per pass with all threads of the default pool: the regions
// are cut into contiguous chunks of a few MiB that the workers take in turn, and each chunk is
// summed as 32-bit words into eight independent SIMD accumulators (so the loads, not the add
// latency, set the pace). One untimed pass first (it also faults in the pages of a fresh
// mapping), then `reps` timed passes. Works on any memory: an mmapped checkpoint measures what
// streaming those weights can reach (4 KiB page-cache pages), a private buffer the DRAM itself.
ReadBandwidth measure_read_bandwidth(const std::vector<std::span<const std::uint8_t>>& regions,
                                     int reps);

// The same over a private buffer of `bytes`, written first so that its pages are resident (an
// untouched buffer would read the shared zero page, from cache). Choose a size far past the
// last-level cache (1 GiB) to measure DRAM.
ReadBandwidth measure_read_bandwidth(std::size_t bytes, int reps);

}  // namespace pocket::bench
