#include "kernels/cpu_config.h"

#include <algorithm>
#include <sstream>
#include <string_view>

namespace pocket {

bool matches(const CpuConfig& row, const CpuId& id) {
  if (row.generic() || row.arch != id.arch) return false;
  if (row.arch == CpuArch::x86_64) {
    return id.vendor == row.vendor && id.family == row.major && id.model >= row.lo &&
           id.model <= row.hi;
  }
  return id.implementer == row.major && id.part >= row.lo && id.part <= row.hi;
}

const CpuConfig& select_cpu_config(const CpuId& id, const std::vector<std::string>& usable) {
  for (const char* isa : kKernelSets) {
    if (isa != std::string_view("scalar") &&
        std::find(usable.begin(), usable.end(), isa) == usable.end()) {
      continue;
    }
    const CpuConfig* generic = nullptr;
    for (const CpuConfig& row : kCpuConfigs) {
      if (!same_name(row.gemm.isa, isa)) continue;
      if (matches(row, id)) return row;
      if (row.generic() && (row.arch == id.arch || row.arch == CpuArch::any) && !generic) {
        generic = &row;
      }
    }
    if (generic != nullptr) return *generic;
  }
  return kCpuConfigs[scalar_row()];
}

const GemmKernel* gemm_kernel_of_row(std::size_t row) {
  for (const GemmKernel* k : {avx512::gemm_kernel_of_row(row), avx2::gemm_kernel_of_row(row),
                              neon::gemm_kernel_of_row(row), scalar::gemm_kernel_of_row(row)}) {
    if (k != nullptr) return k;
  }
  return nullptr;
}

const CpuConfig& cpu_config() {
  static const CpuConfig& chosen = []() -> const CpuConfig& {
    const CpuFeatures cpu = detect_cpu_features();
    std::vector<std::string> usable;
    for (std::size_t row = 0; row < std::size(kCpuConfigs); ++row) {
      const char* isa = kCpuConfigs[row].gemm.isa;
      if (gemm_kernel_of_row(row) != nullptr && cpu_runs(cpu, isa)) usable.emplace_back(isa);
    }
    return select_cpu_config(cpu.id, usable);
  }();
  return chosen;
}

const GemmKernel& gemm_kernel_native() {
  static const GemmKernel& kernel = *gemm_kernel_of_row(row_index(cpu_config()));
  return kernel;
}

std::string describe(const CpuConfig& config) {
  const GemmBlocking& b = config.gemm;
  std::ostringstream out;
  out << "cpu config " << config.name << " (gemm " << b.isa << " " << b.mr << "x" << b.nr << ", kc "
      << b.kc << ", mb " << b.mb << ")";
  return out.str();
}

}  // namespace pocket
