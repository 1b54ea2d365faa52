#include "kernels/cpu_features.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "kernels/simd.h"
#include "kernels/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#ifndef POCKET_MARCH
#define POCKET_MARCH "unknown"
#endif

namespace pocket {

namespace {

std::string read_cpuinfo() {
  std::ifstream in("/proc/cpuinfo");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of the first (or, with last = true, the last) "key : value" line of cpuinfo text.
std::string cpuinfo_field(std::string_view text, std::string_view key, bool last = false) {
  std::string found;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    found = line.substr(colon + 1);
    found.erase(0, found.find_first_not_of(" \t"));
    if (!last) break;
  }
  return found;
}

int parse_int(const std::string& s) {
  try {
    return s.empty() ? -1 : static_cast<int>(std::stol(s, nullptr, 0));
  } catch (const std::exception&) {
    return -1;
  }
}

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the OS saves on a context switch (bit 1 SSE, 2 AVX, 5-7 AVX-512).
std::uint64_t xcr0() {
  std::uint32_t lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

void detect_x86(CpuFeatures& cpu) {
  unsigned a, b, c, d;
  auto has = [&](bool bit, const char* name) {
    if (bit) cpu.features.emplace_back(name);
  };
  char vendor[13] = {};
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    std::copy_n(reinterpret_cast<const char*>(&b), 4, vendor);
    std::copy_n(reinterpret_cast<const char*>(&d), 4, vendor + 4);
    std::copy_n(reinterpret_cast<const char*>(&c), 4, vendor + 8);
  }
  bool os_avx = false, os_avx512 = false;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    cpu.id = x86_cpu_id(vendor, a);
    if (c & (1u << 27)) {  // OSXSAVE: xgetbv is there
      const std::uint64_t saved = xcr0();
      os_avx = (saved & 0x6) == 0x6;
      os_avx512 = os_avx && (saved & 0xE0) == 0xE0;
    }
    has(d & (1u << 26), "sse2");
    has(c & (1u << 22), "movbe");
    has(os_avx && (c & (1u << 12)), "fma");
    has(os_avx && (c & (1u << 28)), "avx");
    has(os_avx && (c & (1u << 29)), "f16c");
  }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) has(c & (1u << 5), "lzcnt");
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    has(b & (1u << 3), "bmi1");
    has(b & (1u << 8), "bmi2");
    has(os_avx && (b & (1u << 5)), "avx2");
    has(os_avx512 && (b & (1u << 16)), "avx512f");
    has(os_avx512 && (b & (1u << 17)), "avx512dq");
    has(os_avx512 && (b & (1u << 28)), "avx512cd");
    has(os_avx512 && (b & (1u << 30)), "avx512bw");
    has(os_avx512 && (b & (1u << 31)), "avx512vl");
    has(os_avx512 && (c & (1u << 11)), "avx512vnni");
    has(os_avx512 && (d & (1u << 23)), "avx512fp16");
  }
}

#else
void detect_from_cpuinfo(const std::string& text, CpuFeatures& cpu) {
  // aarch64 kernels list "Features: fp asimd ... fphp asimdhp ... asimddp ... asimdfhm".
  const std::string listed = cpuinfo_field(text, "Features");
  std::istringstream words(listed);
  std::string w;
  while (words >> w) {
    if (w == "asimd" || w == "fphp" || w == "asimdhp" || w == "asimddp" || w == "asimdfhm" ||
        w == "sve" || w == "sve2" || w == "i8mm" || w == "bf16") {
      cpu.features.push_back(w);
    }
  }
#if defined(__aarch64__) && defined(__linux__)
  if (listed.empty()) {
    cpu.features = arm_features_from_hwcap(getauxval(AT_HWCAP), getauxval(AT_HWCAP2));
  }
#endif
#if defined(__aarch64__)
  cpu.id = arm_cpu_id_from_cpuinfo(text);
#if defined(__linux__) && defined(HWCAP_CPUID)
  // Without the cpuinfo lines (some containers), the kernel emulates reading MIDR_EL1.
  if (cpu.id.part < 0 && (getauxval(AT_HWCAP) & HWCAP_CPUID)) {
    std::uint64_t midr;
    __asm__("mrs %0, MIDR_EL1" : "=r"(midr));
    cpu.id = arm_cpu_id_from_midr(midr);
  }
#endif
#endif
}
#endif

bool has_all(const CpuFeatures& cpu, std::initializer_list<std::string_view> names) {
  return std::all_of(names.begin(), names.end(), [&](std::string_view n) {
    return std::find(cpu.features.begin(), cpu.features.end(), n) != cpu.features.end();
  });
}

}  // namespace

CpuId x86_cpu_id(std::string vendor, std::uint32_t leaf1_eax) {
  CpuId id;
  id.arch = CpuArch::x86_64;
  id.vendor = std::move(vendor);
  const int base_family = static_cast<int>((leaf1_eax >> 8) & 0xF);
  const int base_model = static_cast<int>((leaf1_eax >> 4) & 0xF);
  id.family =
      base_family == 0xF ? base_family + static_cast<int>((leaf1_eax >> 20) & 0xFF) : base_family;
  id.model = base_family == 6 || base_family == 0xF
                 ? base_model + (static_cast<int>((leaf1_eax >> 16) & 0xF) << 4)
                 : base_model;
  return id;
}

CpuId arm_cpu_id_from_midr(std::uint64_t midr) {
  CpuId id;
  id.arch = CpuArch::aarch64;
  id.implementer = static_cast<int>((midr >> 24) & 0xFF);
  id.part = static_cast<int>((midr >> 4) & 0xFFF);
  return id;
}

CpuId arm_cpu_id_from_cpuinfo(std::string_view cpuinfo) {
  CpuId id;
  id.arch = CpuArch::aarch64;
  id.implementer = parse_int(cpuinfo_field(cpuinfo, "CPU implementer", true));
  id.part = parse_int(cpuinfo_field(cpuinfo, "CPU part", true));
  return id;
}

bool cpu_runs(const CpuFeatures& cpu, std::string_view isa) {
  if (isa == "scalar") return true;
  if (isa == "neon") return cpu.arch == "aarch64";
  if (cpu.arch != "x86_64") return false;
  const bool v3 = has_all(cpu, {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe"});
  if (isa == "avx2") return v3;
  if (isa == "avx512") {
    return v3 && has_all(cpu, {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"});
  }
  return false;
}

std::vector<std::string> arm_features_from_hwcap(std::uint64_t hwcap, std::uint64_t hwcap2) {
  struct Bit {
    bool second;  // AT_HWCAP2
    int bit;
    const char* name;
  };
  // In cpuinfo's order; bit numbers of linux/arch/arm64/include/uapi/asm/hwcap.h.
  static constexpr Bit kBits[] = {
      {false, 1, "asimd"},    {false, 9, "fphp"}, {false, 10, "asimdhp"},
      {false, 20, "asimddp"}, {false, 22, "sve"}, {false, 23, "asimdfhm"},
      {true, 1, "sve2"},      {true, 13, "i8mm"}, {true, 14, "bf16"},
  };
  std::vector<std::string> out;
  for (const Bit& b : kBits) {
    if (((b.second ? hwcap2 : hwcap) >> b.bit) & 1u) out.emplace_back(b.name);
  }
  return out;
}

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
  const std::string cpuinfo = read_cpuinfo();
  cpu.model = cpuinfo_field(cpuinfo, "model name");
  if (cpu.model.empty()) cpu.model = cpuinfo_field(cpuinfo, "Hardware");
#if defined(__x86_64__) || defined(__i386__)
  detect_x86(cpu);
#else
  detect_from_cpuinfo(cpuinfo, cpu);
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
