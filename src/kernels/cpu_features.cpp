#include "kernels/cpu_features.h"

#include <fstream>
#include <sstream>

#include "kernels/simd.h"
#include "kernels/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#ifndef POCKET_MARCH
#define POCKET_MARCH "unknown"
#endif

namespace pocket {

namespace {

// The "model name"/"flags"/"Features" lines of /proc/cpuinfo (Linux, Android/Termux).
std::string cpuinfo_field(const char* key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  const std::string k(key);
  while (std::getline(in, line)) {
    if (line.compare(0, k.size(), k) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        return value;
      }
    }
  }
  return "";
}

#if defined(__x86_64__) || defined(__i386__)
void detect_x86(CpuFeatures& cpu) {
  unsigned a, b, c, d;
  auto has = [&](bool bit, const char* name) {
    if (bit) cpu.features.emplace_back(name);
  };
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    has(d & (1u << 26), "sse2");
    has(c & (1u << 12), "fma");
    has(c & (1u << 28), "avx");
    has(c & (1u << 29), "f16c");
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    has(b & (1u << 5), "avx2");
    has(b & (1u << 16), "avx512f");
    has(b & (1u << 17), "avx512dq");
    has(b & (1u << 30), "avx512bw");
    has(b & (1u << 31), "avx512vl");
    has(c & (1u << 11), "avx512vnni");
    has(d & (1u << 23), "avx512fp16");
  }
}

#else
void detect_from_cpuinfo_flags(CpuFeatures& cpu) {
  // aarch64 kernels list "Features: fp asimd ... fphp asimdhp ... asimddp ... asimdfhm".
  std::istringstream words(cpuinfo_field("Features"));
  std::string w;
  while (words >> w) {
    if (w == "asimd" || w == "fphp" || w == "asimdhp" || w == "asimddp" || w == "asimdfhm" ||
        w == "sve" || w == "sve2" || w == "i8mm" || w == "bf16") {
      cpu.features.push_back(w);
    }
  }
}
#endif

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures cpu;
#if defined(__x86_64__)
  cpu.arch = "x86_64";
#elif defined(__aarch64__)
  cpu.arch = "aarch64";
#elif defined(__arm__)
  cpu.arch = "arm";
#else
  cpu.arch = "unknown";
#endif
  cpu.model = cpuinfo_field("model name");
  if (cpu.model.empty()) cpu.model = cpuinfo_field("Hardware");
#if defined(__x86_64__) || defined(__i386__)
  detect_x86(cpu);
#else
  detect_from_cpuinfo_flags(cpu);
#endif
  cpu.logical_cpus = hardware_threads();
  return cpu;
}

std::string build_description() {
  std::ostringstream out;
  out << "simd path " << kSimdPath << ", -march=" << POCKET_MARCH << ", compiler ";
#if defined(__clang__)
  out << "clang " << __clang_major__ << "." << __clang_minor__;
#elif defined(__GNUC__)
  out << "gcc " << __GNUC__ << "." << __GNUC_MINOR__;
#else
  out << "unknown";
#endif
  return out.str();
}

}  // namespace pocket
