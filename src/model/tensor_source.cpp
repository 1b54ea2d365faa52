#include "model/tensor_source.h"

namespace pocket {

WeightView CheckpointSource::tensor(const std::string& name, const std::vector<std::int64_t>& shape,
                                    ParamKind /*kind*/) const {
  const TensorView& t = checkpoint_.require(name, Dtype::kF16, shape);
  const std::int64_t rows = shape.size() == 1 ? 1 : shape[0];
  const std::int64_t cols = shape.size() == 1 ? shape[0] : shape[1];
  return {WeightFormat::kF16, t.data, nullptr, rows, cols, cols};
}

}  // namespace pocket
