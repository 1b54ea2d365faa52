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
// model or part in [lo, hi]; a generic row (major = -1) matches no id and is the fallback of its
// kernel set on its architecture.
struct CpuConfig {
  const char* name;
  CpuArch arch;
  const char* vendor;  // x86: cpuid vendor; aarch64: ""
  int major;           // x86: display family; aarch64: MIDR implementer; -1: generic row
  int lo, hi;          // x86: display model range; aarch64: MIDR part range
  GemmBlocking gemm;

  constexpr bool generic() const { return major < 0; }
};

inline constexpr CpuArch kX86 = CpuArch::x86_64, kArm = CpuArch::aarch64, kAny = CpuArch::any;

// The x86 rows carry the mr, nr, kc and mb measured before the table existed (bench/README.md,
// on Sapphire Rapids; on Zen 5, kc 512-4096 × mb 64-512 measured none better than 1024 × 256).
// zen4 and sapphire-rapids are their own rows so that a bench-gemm run on each can tune them apart.
// The ARM rows are set from the cores' cache sizes, not measured: mb·kc·4 bytes (the X block)
// about half of L2.
// lanes and kc are the kernel set's (gemm_kernel.h).
//
// zen4: every family-19h CPU with AVX-512 is Zen 4 (Zen 3 has none, and so falls to x86-64-v3);
// zen5: family 1Ah (full 512-bit FMA pipes, 48 KiB L1D, 1 MiB L2; the CI machine).

// Block sizes, shared by the rows that use them.
// clang-format off
//                                           isa       lanes mr nr  kc    mb
inline constexpr GemmBlocking kAvx512Blocking{"avx512", 16,  4, 6, 1024, 256};
inline constexpr GemmBlocking kAvx2Blocking{"avx2",       8,  3, 4,  512, 252};
inline constexpr GemmBlocking kNeonBlocking{"neon",       4,  4, 6,  256, 256};
inline constexpr GemmBlocking kNeonSmallL2{"neon",        4,  4, 6,  256, 128};
inline constexpr GemmBlocking kNeonLargeL2{"neon",        4,  4, 6,  256, 512};
inline constexpr GemmBlocking kScalarBlocking{"scalar",   1,  4, 4,  256, 256};

//   name              arch  vendor          major lo     hi     gemm
inline constexpr CpuConfig kCpuConfigs[] = {
    {"x86-64-v4",       kX86, "",             -1,   0,     0,     kAvx512Blocking},
    {"zen4",            kX86, "AuthenticAMD", 0x19, 0x00,  0xFF,  kAvx512Blocking},
    {"zen5",            kX86, "AuthenticAMD", 0x1A, 0x00,  0xFF,  kAvx512Blocking},
    {"sapphire-rapids", kX86, "GenuineIntel", 6,    0x8F,  0x8F,  kAvx512Blocking},
    {"x86-64-v3",       kX86, "",             -1,   0,     0,     kAvx2Blocking},
    {"armv8.2",         kArm, "",             -1,   0,     0,     kNeonBlocking},
    {"cortex-a55",      kArm, "",             0x41, 0xD05, 0xD05, kNeonSmallL2},
    {"cortex-a76",      kArm, "",             0x41, 0xD0B, 0xD0B, kNeonBlocking},
    {"cortex-x1",       kArm, "",             0x41, 0xD44, 0xD44, kNeonLargeL2},
    {"cortex-x3",       kArm, "",             0x41, 0xD4E, 0xD4E, kNeonLargeL2},
    {"scalar",          kAny, "",             -1,   0,     0,     kScalarBlocking},
};
// clang-format on

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
