// Where binding (model_weights.h) finds a model's tensors by their Hugging Face names: a
// safetensors checkpoint, which stores them as HF does (F16), or a GGUF file, which stores them
// under llama.cpp's names, in its dimension order and in block formats (gguf_source.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/weight_view.h"
#include "model/params.h"

namespace pocket {

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Every element of the tensor of HF name `name` and HF shape `shape` ([out, in] or [n]), as a
  // [shape[0], shape[1]] view (a vector: [1, n]). `kind` says how it will be read: a kVector is
  // converted to fp32 by the parameter table (F16 or F32 only), a matrix or embedding may be in
  // any format the kernels read. Throws pocket::Error naming the file and the tensor when it is
  // missing, has another shape, or a format that kind cannot have.
  virtual WeightView tensor(const std::string& name, const std::vector<std::int64_t>& shape,
                            ParamKind kind) const = 0;
};

// A safetensors checkpoint: every tensor F16 under its HF name.
class CheckpointSource final : public TensorSource {
 public:
  explicit CheckpointSource(const Checkpoint& checkpoint) : checkpoint_(checkpoint) {}
  WeightView tensor(const std::string& name, const std::vector<std::int64_t>& shape,
                    ParamKind kind) const override;

 private:
  const Checkpoint& checkpoint_;
};

}  // namespace pocket
