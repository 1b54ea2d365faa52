// The tensors of a GGUF file under the Hugging Face names binding asks for (gguf_names.h), read in
// place: F32, F16 and the block formats Q8_0, Q4_0, Q4_K, Q6_K are views into the mapping; BF16
// tensors, which no kernel reads, are converted once to F32 (exact) and owned here.
//
// GGUF writes dimensions fastest-varying first, so an HF [out, in] matrix is ne = {in, out}.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/model_config.h"
#include "model/tensor_source.h"

namespace pocket {

class GgufSource final : public TensorSource {
 public:
  GgufSource(const GgufFile& file, Arch arch) : file_(file), arch_(arch) {}
  // Errors name the file and the GGUF tensor: missing, another shape, a type pocket does not
  // read, or a block format for a vector (norms and biases are F32 in llama.cpp's files).
  WeightView tensor(const std::string& name, const std::vector<std::int64_t>& shape,
                    ParamKind kind) const override;
  // Bytes of the converted (BF16) tensors this source owns.
  std::size_t owned_bytes() const;

 private:
  const GgufFile& file_;
  Arch arch_;
  mutable std::deque<std::vector<float>> converted_;
};

}  // namespace pocket
