// Backbone + side network on the device (`pocket eval --side`, `pocket generate --side`): a
// LayerObserver that runs the trained ladder alongside the forward, token by token (the side
// network mixes nothing across positions, so it works the same for a whole batch and for one
// cached generation step), and replaces the final hidden state by the side network's output
//   o = x̂_L + up · LN_out(s)
// before the head reads it. Every hidden state the side network sees is first passed through the
// activation codec (quantize, dequantize) with the bit width it was trained on, so the device
// computes exactly the function the server trained and evaluated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "side/side_file.h"
#include "side/side_net.h"

namespace pocket {

// Reads a side network file and checks it belongs to `model` (shape, and the model checksum the
// server recorded, when `model_checksum` is not empty). Throws pocket::Error naming the file.
SideFile load_side_for_model(const std::string& path, const Model& model,
                             const std::string& model_checksum);

class SideRunner : public LayerObserver {
 public:
  // max_rows: the most rows (B·T) one forward of the session holds.
  SideRunner(const SideFile& file, std::int64_t max_rows);
  void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) override;

 private:
  SideNet<float> net_;
  int bits_;
  std::int64_t layers_;
  std::vector<float> h_;                // dequantized hidden states [max_rows, d]
  std::vector<std::uint8_t> encoded_;   // one encoded vector
};

}  // namespace pocket
