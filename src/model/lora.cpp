#include "model/lora.h"

#include <algorithm>
#include <cmath>

#include "kernels/zrng.h"

namespace pocket {

std::vector<std::string> default_lora_targets(Arch arch) {
  if (arch == Arch::kRoberta) return {"query", "value"};
  return {"q_proj", "v_proj"};
}

std::vector<std::string> lora_targets(const LoraOptions& options, Arch arch) {
  std::vector<std::string> out;
  for (const std::string& item : options.targets) {
    std::size_t begin = 0;
    while (begin <= item.size()) {
      const std::size_t comma = std::min(item.find(',', begin), item.size());
      if (comma > begin) out.push_back(item.substr(begin, comma - begin));
      begin = comma + 1;
    }
  }
  return out.empty() ? default_lora_targets(arch) : out;
}

bool lora_target_matches(const std::string& module, const std::string& target) {
  if (module == target) return true;
  return module.size() > target.size() &&
         module.compare(module.size() - target.size(), target.size(), target) == 0 &&
         module[module.size() - target.size() - 1] == '.';
}

std::string lora_param_name(const std::string& module, char which) {
  return "base_model.model." + module + (which == 'A' ? ".lora_A.weight" : ".lora_B.weight");
}

float lora_init_value(std::uint64_t seed, std::uint64_t pid, std::uint64_t i, std::int64_t in) {
  const std::uint64_t u = z_word(z_key(seed ^ kLoraInitDomain, pid), i) >> 40;
  const double v = (2.0 * static_cast<double>(u) + 1.0 - 16777216.0) / 16777216.0;
  return static_cast<float>(v / std::sqrt(static_cast<double>(in)));
}

void lora_init_a(float* a, std::int64_t n, std::int64_t in, std::uint64_t seed, std::uint64_t pid) {
  for (std::int64_t i = 0; i < n; ++i) {
    a[i] = lora_init_value(seed, pid, static_cast<std::uint64_t>(i), in);
  }
}

}  // namespace pocket
