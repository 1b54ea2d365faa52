#include "model/gguf_source.h"

#include <cstring>

#include "io/error.h"
#include "kernels/fp16.h"
#include "model/gguf_names.h"

namespace pocket {

WeightView GgufSource::tensor(const std::string& name, const std::vector<std::int64_t>& shape,
                              ParamKind kind) const {
  const std::string gguf_name = gguf_tensor_name(arch_, name);
  if (gguf_name.empty()) {
    throw Error(file_.path(), "tensor '" + name + "' has no GGUF name in this architecture");
  }
  const std::string where = file_.path() + ": tensor '" + gguf_name + "'";
  const GgufTensor* t = file_.find_tensor(gguf_name);
  if (t == nullptr) throw Error(where, "missing (the model's " + name + ")");
  const std::vector<std::int64_t> want(shape.rbegin(), shape.rend());
  if (t->dims != want) {
    throw Error(where, "has shape " + shape_text(t->dims) + ", expected " + shape_text(want) +
                           " (GGUF order: fastest dimension first)");
  }
  const std::int64_t rows = shape.size() == 1 ? 1 : shape[0];
  const std::int64_t cols = shape.size() == 1 ? shape[0] : shape[1];
  WeightView v{WeightFormat::kF32, t->data, nullptr, rows, cols, cols};
  switch (t->type) {
    case GgmlType::kF32: v.format = WeightFormat::kF32; break;
    case GgmlType::kF16: v.format = WeightFormat::kF16; break;
    case GgmlType::kQ8_0: v.format = WeightFormat::kQ8_0; break;
    case GgmlType::kQ4_0: v.format = WeightFormat::kQ4_0; break;
    case GgmlType::kQ4_K: v.format = WeightFormat::kQ4_K; break;
    case GgmlType::kQ6_K: v.format = WeightFormat::kQ6_K; break;
    case GgmlType::kBF16: {
      std::vector<float>& f32 = converted_.emplace_back(static_cast<std::size_t>(t->numel()));
      for (std::size_t i = 0; i < f32.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, t->data + 2 * i, sizeof h);
        f32[i] = bf16_to_f32(h);
      }
      v.data = f32.data();
      break;
    }
    default:
      throw Error(where, std::string("type ") + ggml_type_name(t->type) +
                             " is not supported (pocket reads F32, F16, BF16, Q8_0, Q4_0, Q4_K, "
                             "Q6_K)");
  }
  if (kind == ParamKind::kVector && is_quantized(v.format)) {
    throw Error(where, std::string("is ") + ggml_type_name(t->type) +
                           ": a norm weight or bias must be F32, F16 or BF16");
  }
  return v;
}

std::size_t GgufSource::owned_bytes() const {
  std::size_t bytes = 0;
  for (const auto& t : converted_) bytes += t.size() * sizeof(float);
  return bytes;
}

}  // namespace pocket
