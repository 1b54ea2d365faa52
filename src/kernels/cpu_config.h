// The per-CPU configuration table (BLIS's config registry): for each CPU model, which GEMM kernel
// set runs and with which block sizes. cpu_config() picks the row of the machine at run time:
// the row of its CPU model if the table has one, else the generic row of the best kernel set
// both the CPU and this binary have. Adding a CPU is one row here (src/kernels/README.md).
#pragma once

#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm_kernel.h"

namespace pocket {

// One row. A model row matches ids with the same vendor/implementer, family (x86 only) and a
// model or part in [lo, hi]; a generic row (generic = true) matches no id and is the fallback of
// its kernel set on its architecture.
struct CpuConfig {
  const char* name;
  CpuArch arch;
  bool generic;
  const char* vendor;  // x86: cpuid vendor; aarch64: ""
  int major;           // x86: display family; aarch64: MIDR implementer
  int lo, hi;          // x86: display model range; aarch64: MIDR part range
  GemmBlocking gemm;
};

// The x86 rows carry the block sizes measured before the table existed (bench/README.md, on
// Sapphire Rapids); zen4 and sapphire-rapids are their own rows so that a bench-gemm run on each
// can tune them apart. The ARM rows are set from the cores' cache sizes, not measured: mb·kc·4
// bytes (the X block) about half of L2, nc·kc·4 (the W block) about one core's L3 share.
// lanes and kc are the kernel set's (gemm_kernel.h).
//
// zen4: every family-19h CPU with AVX-512 is Zen 4 (Zen 3 has none, and so falls to x86-64-v3).
//                name               arch              generic vendor          major lo     hi
//                  isa       lanes mr nr  kc    mb    nc
inline constexpr CpuConfig kCpuConfigs[] = {
    {"x86-64-v4", CpuArch::x86_64, true, "", 0, 0, 0, {"avx512", 16, 4, 6, 1024, 256, 768}},
    {"zen4", CpuArch::x86_64, false, "AuthenticAMD", 0x19, 0x00, 0xFF,
     {"avx512", 16, 4, 6, 1024, 256, 768}},
    {"sapphire-rapids", CpuArch::x86_64, false, "GenuineIntel", 6, 0x8F, 0x8F,
     {"avx512", 16, 4, 6, 1024, 256, 768}},
    {"x86-64-v3", CpuArch::x86_64, true, "", 0, 0, 0, {"avx2", 8, 3, 4, 512, 252, 1024}},
    {"armv8.2", CpuArch::aarch64, true, "", 0, 0, 0, {"neon", 4, 4, 6, 256, 256, 768}},
    {"cortex-a55", CpuArch::aarch64, false, "", 0x41, 0xD05, 0xD05,
     {"neon", 4, 4, 6, 256, 128, 384}},
    {"cortex-a76", CpuArch::aarch64, false, "", 0x41, 0xD0B, 0xD0B,
     {"neon", 4, 4, 6, 256, 256, 768}},
    {"cortex-x1", CpuArch::aarch64, false, "", 0x41, 0xD44, 0xD44,
     {"neon", 4, 4, 6, 256, 512, 1536}},
    {"cortex-x3", CpuArch::aarch64, false, "", 0x41, 0xD4E, 0xD4E,
     {"neon", 4, 4, 6, 256, 512, 1536}},
    {"scalar", CpuArch::any, true, "", 0, 0, 0, {"scalar", 1, 4, 4, 256, 256, 256}},
};

// Kernel sets from best to worst; the choice takes the first one the CPU and the binary have.
inline constexpr const char* kKernelSets[] = {"avx512", "avx2", "neon", "scalar"};

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}

// Index of the one row whose kernel set is "scalar" (the last resort of every architecture).
constexpr std::size_t scalar_row() {
  std::size_t found = std::size(kCpuConfigs);
  for (std::size_t i = 0; i < std::size(kCpuConfigs); ++i) {
    if (same_name(kCpuConfigs[i].gemm.isa, "scalar")) found = i;
  }
  return found;
}
static_assert(scalar_row() < std::size(kCpuConfigs), "kCpuConfigs needs a scalar row");

// Index of a row of kCpuConfigs.
inline std::size_t row_index(const CpuConfig& row) {
  return static_cast<std::size_t>(&row - kCpuConfigs);
}

// Whether model row `row` is the row of `id` (generic rows match no id).
bool matches(const CpuConfig& row, const CpuId& id);

// The row for `id` given the kernel sets that are usable (the CPU runs them and the binary has
// them; "scalar" always is): the best usable set's row for this model, else its generic row.
const CpuConfig& select_cpu_config(const CpuId& id, const std::vector<std::string>& usable);

// The row chosen for this machine (decided once, on first use), its GEMM kernel, and one line
// naming the row and its block sizes (pocket --version).
const CpuConfig& cpu_config();
std::string describe(const CpuConfig& config);

// The GEMM kernel of table row `row`, or nullptr when this binary has none for its kernel set.
const GemmKernel* gemm_kernel_of_row(std::size_t row);

}  // namespace pocket
