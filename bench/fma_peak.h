// The machine's measured fp32 FMA peak: the ceiling every GEMM number is read against.
#pragma once

namespace pocket::bench {

// GFLOP/s (an FMA = 2 flops) of independent FMA chains on the compiled SIMD path, run on
// `threads` threads at once for about `seconds`.
double measure_fma_peak_gflops(int threads, double seconds = 0.3);

}  // namespace pocket::bench
