// What the CPU we run on is and can do (read at run time), as opposed to the SIMD path the files
// of this build were compiled for (simd.h). `pocket --help` prints both, and the CPU config row
// chosen from them (cpu_config.h), so a user sees at once when a build does not use the hardware.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pocket {

enum class CpuArch { x86_64, aarch64, any };

// What identifies a core model.
//   x86-64:  cpuid vendor string and display family/model (leaf 1, extended fields folded in).
//   aarch64: MIDR_EL1 implementer (0x41 = Arm Ltd.) and part number.
struct CpuId {
  CpuArch arch = CpuArch::any;
  std::string vendor;
  int family = -1, model = -1;
  int implementer = -1, part = -1;
};

struct CpuFeatures {
  std::string arch;                   // "x86_64", "aarch64", ...
  std::string model;                  // model name when the OS tells it, else ""
  std::vector<std::string> features;  // the SIMD-relevant ones only, e.g. "avx512f", "asimdhp"
  int logical_cpus = 1;
  CpuId id;
};

CpuFeatures detect_cpu_features();

// Whether the CPU runs the code of kernel set `isa` ("avx512", "avx2", "neon", "scalar") as the
// build compiles it: x86-64-v4 (AVX-512F/BW/CD/DQ/VL on top of v3) for avx512, x86-64-v3 (AVX2,
// FMA, F16C, BMI1/2, LZCNT, MOVBE) for avx2, aarch64 for neon; each with the OS saving the
// registers (XCR0), which is when detect_cpu_features lists the AVX features at all.
bool cpu_runs(const CpuFeatures& cpu, std::string_view isa);

// The id of an x86 CPU from its cpuid vendor and leaf-1 EAX: family = base + extended family
// when base is 0xF; model = base model + (extended model << 4) when the family is 6 or ≥ 0xF.
CpuId x86_cpu_id(std::string vendor, std::uint32_t leaf1_eax);

// The id of an aarch64 CPU from MIDR_EL1 (implementer bits 31-24, part bits 15-4).
CpuId arm_cpu_id_from_midr(std::uint64_t midr);

// The id of an aarch64 CPU from the text of /proc/cpuinfo: "CPU implementer" and "CPU part" of
// the last processor listed. Linux lists big.LITTLE clusters little first, so on a phone this is
// the biggest core; all rows of one kernel set give the same bits, so a thread on another core
// is only slower, never different. Ids stay -1 when the text has no such lines.
CpuId arm_cpu_id_from_cpuinfo(std::string_view cpuinfo);

// The SIMD-relevant aarch64 features ("asimd", "fphp", "asimdhp", "asimddp", "asimdfhm", "sve",
// "sve2", "i8mm", "bf16") that Linux's AT_HWCAP / AT_HWCAP2 bits announce (the kernel's uapi
// asm/hwcap.h numbering). detect_cpu_features reads them when /proc/cpuinfo has no Features line,
// as under qemu-user, so the kernels the CPU runs are still chosen.
std::vector<std::string> arm_features_from_hwcap(std::uint64_t hwcap, std::uint64_t hwcap2);

// Compile-time facts of this build: SIMD path, compiler, -march flags.
std::string build_description();

}  // namespace pocket
