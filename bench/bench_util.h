// Shared by the benchmarks: a monotonic clock, the median of repeated timings (peak RSS:
// io/memory_stats.h).
// Benchmarks report ratios measured within one run (the machines are shared and noisy) and the
// median of several repetitions; they never assert on time.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace pocket::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs fn once to warm up, then `reps` timed times (each at least `min_seconds` by repeating
// fn inside the timing); returns the median seconds of one call.
template <class F>
double median_seconds(F&& fn, int reps = 5, double min_seconds = 0.02) {
  fn();
  int inner = 1;
  for (;;) {
    const double t0 = now_seconds();
    for (int i = 0; i < inner; ++i) fn();
    const double dt = now_seconds() - t0;
    if (dt >= min_seconds || inner >= (1 << 20)) break;
    inner *= 2;
  }
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    for (int i = 0; i < inner; ++i) fn();
    times.push_back((now_seconds() - t0) / inner);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace pocket::bench
