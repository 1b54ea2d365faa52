#include "kernels/cpu_config.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "test_util.h"

using namespace pocket;

namespace {

const std::vector<std::string> kX86All = {"avx512", "avx2"};
const std::vector<std::string> kArmAll = {"neon"};

}  // namespace

TEST_CASE("x86 ids: display family and model fold in the extended fields") {
  const CpuId genoa = x86_cpu_id("AuthenticAMD", 0x00A10F11);
  CHECK(genoa.family == 0x19);
  CHECK(genoa.model == 0x11);
  const CpuId raphael = x86_cpu_id("AuthenticAMD", 0x00A60F12);
  CHECK(raphael.model == 0x61);
  const CpuId spr = x86_cpu_id("GenuineIntel", 0x000806F8);
  CHECK(spr.family == 6);
  CHECK(spr.model == 0x8F);
  const CpuId turin = x86_cpu_id("AuthenticAMD", 0x00B00F21);
  CHECK(turin.family == 0x1A);
  CHECK(turin.model == 0x02);
}

TEST_CASE("aarch64 ids from MIDR_EL1 and from /proc/cpuinfo (the last processor)") {
  const CpuId a76 = arm_cpu_id_from_midr(0x414FD0B1);
  CHECK(a76.implementer == 0x41);
  CHECK(a76.part == 0xD0B);
  const std::string phone =
      "processor\t: 0\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
      "CPU part\t: 0xd05\n\nprocessor\t: 7\nCPU implementer\t: 0x41\nCPU part\t: 0xd44\n";
  const CpuId x1 = arm_cpu_id_from_cpuinfo(phone);
  CHECK(x1.implementer == 0x41);
  CHECK(x1.part == 0xD44);
  const CpuId none = arm_cpu_id_from_cpuinfo("processor\t: 0\n");
  CHECK(none.part == -1);
}

TEST_CASE("the lookup: known ids get their row, unknown ones the generic row of their ISA") {
  using std::string;
  auto pick = [](const CpuId& id, const std::vector<std::string>& usable) {
    return string(select_cpu_config(id, usable).name);
  };
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00A10F11), kX86All) == "zen4");
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00A60F12), kX86All) == "zen4");
  CHECK(pick(x86_cpu_id("GenuineIntel", 0x000806F8), kX86All) == "sapphire-rapids");
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00B00F21), kX86All) == "zen5");
  // Ice Lake has no row: the generic AVX-512 one.
  CHECK(pick(x86_cpu_id("GenuineIntel", 0x000606A6), kX86All) == "x86-64-v4");
  // Zen 3 (family 19h, no AVX-512), and a Zen 4 under a binary without AVX-512 kernels.
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00A20F10), {"avx2"}) == "x86-64-v3");
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00A10F11), {"avx2"}) == "x86-64-v3");
  CHECK(pick(x86_cpu_id("AuthenticAMD", 0x00A10F11), {}) == "scalar");

  CHECK(pick(arm_cpu_id_from_midr(0x411FD050), kArmAll) == "cortex-a55");
  CHECK(pick(arm_cpu_id_from_midr(0x414FD0B1), kArmAll) == "cortex-a76");
  CHECK(pick(arm_cpu_id_from_midr(0x411FD440), kArmAll) == "cortex-x1");
  CHECK(pick(arm_cpu_id_from_midr(0x411FD4E0), kArmAll) == "cortex-x3");
  CHECK(pick(arm_cpu_id_from_midr(0x410FD030), kArmAll) == "armv8.2");  // cortex-a53
  CHECK(pick(arm_cpu_id_from_midr(0x510F8020), kArmAll) == "armv8.2");  // a Kryo
  CHECK(pick(arm_cpu_id_from_cpuinfo(""), kArmAll) == "armv8.2");
  // An ARM id never gets an x86 row, nor the reverse.
  CHECK(pick(arm_cpu_id_from_midr(0x414FD0B1), kX86All) == "scalar");
  CHECK(pick(x86_cpu_id("GenuineIntel", 0x000806F8), kArmAll) == "scalar");
}

TEST_CASE("which kernel sets a CPU runs follows its features") {
  CpuFeatures v3;
  v3.arch = "x86_64";
  v3.features = {"sse2", "movbe", "fma", "avx", "f16c", "lzcnt", "bmi1", "bmi2", "avx2"};
  CHECK(cpu_runs(v3, "avx2"));
  CHECK_FALSE(cpu_runs(v3, "avx512"));
  CHECK_FALSE(cpu_runs(v3, "neon"));
  CHECK(cpu_runs(v3, "scalar"));
  CpuFeatures v4 = v3;
  for (const char* f : {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"}) {
    v4.features.emplace_back(f);
  }
  CHECK(cpu_runs(v4, "avx512"));
  CpuFeatures no_f16c = v3;
  std::erase(no_f16c.features, "f16c");
  CHECK_FALSE(cpu_runs(no_f16c, "avx2"));
  CpuFeatures arm;
  arm.arch = "aarch64";
  CHECK(cpu_runs(arm, "neon"));
  CHECK_FALSE(cpu_runs(arm, "avx2"));
}

TEST_CASE(
    "every row is valid; rows of one kernel set agree on lanes and kc; each set has a "
    "generic row") {
  for (const CpuConfig& row : kCpuConfigs) {
    INFO(row.name);
    CHECK(blocking_is_valid(row.gemm));
    CHECK(row.gemm.mr <= kGemmMaxMr);
    bool known_set = false;
    for (const char* isa : kKernelSets) known_set = known_set || same_name(isa, row.gemm.isa);
    CHECK(known_set);
    CHECK((row.generic() || row.major > 0));
    for (const CpuConfig& other : kCpuConfigs) {
      if (!same_name(other.gemm.isa, row.gemm.isa)) continue;
      // Same lanes and kc: the same sums in the same order, so the same bits on every CPU of
      // this kernel set whichever row it gets.
      CHECK(other.gemm.lanes == row.gemm.lanes);
      CHECK(other.gemm.kc == row.gemm.kc);
      if (&other != &row && !row.generic() && !other.generic()) {
        CHECK_FALSE((other.arch == row.arch && same_name(other.vendor, row.vendor) &&
                     other.major == row.major && other.lo <= row.hi && row.lo <= other.hi));
      }
    }
  }
  for (const char* isa : kKernelSets) {
    int generic = 0;
    for (const CpuConfig& row : kCpuConfigs) generic += row.generic() && same_name(row.gemm.isa, isa);
    CHECK_MESSAGE(generic == 1, isa);
  }
}

TEST_CASE("this machine's row is one this binary has and this CPU runs") {
  const CpuConfig& chosen = cpu_config();
  const GemmKernel* kernel = gemm_kernel_of_row(row_index(chosen));
  REQUIRE(kernel != nullptr);
  CHECK(&gemm_kernel_native() == kernel);
  CHECK(cpu_runs(detect_cpu_features(), chosen.gemm.isa));
  CHECK(describe(chosen).find(chosen.name) != std::string::npos);
  CHECK(gemm_kernel_of_row(scalar_row()) == &gemm_kernel_scalar());
}

TEST_CASE("every kernel of every row this binary has and this CPU runs matches the reference") {
  const CpuFeatures cpu = detect_cpu_features();
  int tested = 0;
  for (std::size_t r = 0; r < std::size(kCpuConfigs); ++r) {
    const GemmKernel* kernel = gemm_kernel_of_row(r);
    if (kernel == nullptr || !cpu_runs(cpu, kCpuConfigs[r].gemm.isa)) continue;
    ++tested;
    const GemmBlocking& b = kernel->blocking;
    for (int m = 1; m <= b.mr; ++m) CHECK((kernel->ukernel[m] != nullptr));
    for (int m = b.mr + 1; m <= kGemmMaxMr; ++m) CHECK((kernel->ukernel[m] == nullptr));
    for (const std::int64_t M : {1, 3, 7, 33}) {
      for (const std::int64_t N : {1, 7, 65}) {
        for (const std::int64_t K : {1, 17, 300, 1100}) {
          INFO(kCpuConfigs[r].name << " M=" << M << " N=" << N << " K=" << K);
          const auto seed = static_cast<std::uint32_t>(M * 7919 + N * 31 + K);
          const std::vector<float> x = test::random_floats(M * K, seed);
          const std::vector<fp16> w = test::random_f16(N * K, seed + 1, 0.5f);
          const std::vector<float> bias = test::random_floats(N, seed + 2);
          std::vector<float> want(M * N), got(M * N);
          const WeightView view{WeightFormat::kF16, w.data(), nullptr, N, K, K};
          gemm_ref(M, view, GemmStream{x.data(), want.data(), bias.data()}, K, N, false);
          const GemmStream stream{x.data(), got.data(), bias.data()};
          gemm(M, view, 1, &stream, K, N, GemmOptions{false, kernel});
          const double tol = 2e-6 * (4.0 + std::sqrt(static_cast<double>(K)));
          CHECK(test::max_rel_error(got.data(), want.data(), got.size()) <= tol);
        }
      }
    }
  }
  CHECK(tested >= 1);
}

TEST_CASE("rows of one kernel set give the same bits (M past the small-M path)") {
  const CpuFeatures cpu = detect_cpu_features();
  const std::int64_t M = 67, N = 29, K = 2100;
  const std::vector<float> x = test::random_floats(M * K, 5);
  const std::vector<fp16> w = test::random_f16(N * K, 6, 0.5f);
  for (const char* isa : kKernelSets) {
    std::vector<float> first;
    for (std::size_t r = 0; r < std::size(kCpuConfigs); ++r) {
      const GemmKernel* kernel = gemm_kernel_of_row(r);
      if (kernel == nullptr || !same_name(kCpuConfigs[r].gemm.isa, isa) || !cpu_runs(cpu, isa)) {
        continue;
      }
      INFO(kCpuConfigs[r].name);
      std::vector<float> y(M * N);
      const WeightView view{WeightFormat::kF16, w.data(), nullptr, N, K, K};
      const GemmStream stream{x.data(), y.data(), nullptr};
      gemm(M, view, 1, &stream, K, N, GemmOptions{false, kernel});
      if (first.empty()) {
        first = y;
      } else {
        CHECK(std::memcmp(first.data(), y.data(), sizeof(float) * y.size()) == 0);
      }
    }
  }
}

TEST_CASE("aarch64 features from AT_HWCAP/AT_HWCAP2 bits (when /proc/cpuinfo lists none)") {
  // A Cortex-A76-like core: asimd, fphp, asimdhp, asimddp; a Cortex-X2-like one adds asimdfhm,
  // sve, sve2, i8mm and bf16 (bit numbers of the kernel's uapi asm/hwcap.h).
  const std::uint64_t a76 = (1u << 0) | (1u << 1) | (1u << 9) | (1u << 10) | (1u << 11) | (1u << 20);
  CHECK(arm_features_from_hwcap(a76, 0) ==
        std::vector<std::string>{"asimd", "fphp", "asimdhp", "asimddp"});
  const std::uint64_t x2 = a76 | (1u << 22) | (1u << 23);
  const std::uint64_t x2_2 = (1u << 1) | (1u << 13) | (1u << 14);
  CHECK(arm_features_from_hwcap(x2, x2_2) ==
        std::vector<std::string>{"asimd", "fphp", "asimdhp", "asimddp", "sve", "asimdfhm", "sve2",
                                 "i8mm", "bf16"});
  CHECK(arm_features_from_hwcap(0, 0).empty());
}
