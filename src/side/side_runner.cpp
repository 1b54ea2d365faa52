#include "side/side_runner.h"

#include <algorithm>
#include <cmath>

#include "io/error.h"
#include "side/act_codec.h"

namespace pocket {

SideFile load_side_for_model(const std::string& path, const Model& model,
                             const std::string& model_checksum) {
  SideFile f = read_side_file(path);
  const ModelConfig& c = model.config();
  if (f.shape.hidden != c.hidden || f.shape.layers != c.n_layers) {
    throw Error(path, "side network for hidden " + std::to_string(f.shape.hidden) + " x " +
                          std::to_string(f.shape.layers) + " layers, the model has " +
                          std::to_string(c.hidden) + " x " + std::to_string(c.n_layers));
  }
  const auto bits = f.metadata.find("side.act_bits");
  if (bits == f.metadata.end() || (bits->second != "8" && bits->second != "4")) {
    throw Error(path, "no side.act_bits (8 or 4) in the metadata");
  }
  const auto sum = f.metadata.find("side.model_checksum");
  if (!model_checksum.empty() && sum != f.metadata.end() && sum->second != model_checksum) {
    throw Error(path, "trained for a different base model (model checksum differs)");
  }
  return f;
}

SideRunner::SideRunner(const SideFile& file, std::int64_t max_rows)
    : net_(file.shape, max_rows, /*train=*/false),
      bits_(std::stoi(file.metadata.at("side.act_bits"))),
      layers_(file.shape.layers),
      h_(static_cast<std::size_t>(max_rows * file.shape.hidden)),
      encoded_(act_vector_bytes(file.shape.hidden, bits_)) {
  const std::vector<float>& params = file.groups.at("");
  std::copy(params.begin(), params.end(), net_.params());
}

void SideRunner::after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) {
  if (rows * width > static_cast<std::int64_t>(h_.size())) {
    throw Error("side", "forward larger than the side network was sized for");
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * width;
    float* out = h_.data() + r * width;
    // Padding rows are computed but never read, and may not be finite: they get zeros.
    if (!std::all_of(row, row + width, [](float v) { return std::isfinite(v); })) {
      std::fill(out, out + width, 0.0f);
      continue;
    }
    quantize_vector(row, width, bits_, encoded_.data());
    dequantize_vector(encoded_.data(), width, bits_, out);
  }
  if (layer == 0) net_.begin(rows);
  net_.absorb(layer, h_.data(), width);
  if (layer == layers_) net_.output(h_.data(), width, x, width);
}

}  // namespace pocket
