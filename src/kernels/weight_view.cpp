#include "kernels/weight_view.h"

namespace pocket {

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF16: return "F16";
    case WeightFormat::kF32: return "F32";
    case WeightFormat::kQ8_0: return "Q8_0";
    case WeightFormat::kQ4_0: return "Q4_0";
    case WeightFormat::kQ4_K: return "Q4_K";
    case WeightFormat::kQ6_K: return "Q6_K";
  }
  return "?";
}

}  // namespace pocket
