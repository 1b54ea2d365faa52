// What the CPU we run on can do (read at run time), as opposed to the SIMD path this binary was
// compiled for (simd.h). `pocket --help` prints both, so a user sees at once when a build does
// not use the hardware (e.g. an armv8-a build on a phone with fp16 arithmetic).
#pragma once

#include <string>
#include <vector>

namespace pocket {

struct CpuFeatures {
  std::string arch;                   // "x86_64", "aarch64", ...
  std::string model;                  // model name when the OS tells it, else ""
  std::vector<std::string> features;  // the SIMD-relevant ones only, e.g. "avx512f", "asimdhp"
  int logical_cpus = 1;
};

CpuFeatures detect_cpu_features();

// Compile-time facts of this build: SIMD path, compiler, -march flags.
std::string build_description();

}  // namespace pocket
