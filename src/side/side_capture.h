// The device's half of side tuning during the backbone forward: a LayerObserver that takes, after
// the embeddings and after every layer, the hidden states at the positions the loss uses, encodes
// them (act_codec.h) and lays them out as the examples of one EXAMPLES message
// (docs/side-protocol.md): per example u32 P, i32 targets[P], then P·(L+1) vectors, position-major.
// Nothing else of the example — text, token ids of the prompt — is written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace pocket {

// One position the loss reads: flat row b·T + t of the forward, the example it belongs to
// (0-based within the batch, non-decreasing), its target (class index, or next-token id for lm).
struct CapturePosition {
  std::int64_t row = 0;
  std::int64_t example = 0;
  std::int32_t target = 0;
};

class SideCapture : public LayerObserver {
 public:
  SideCapture(std::int64_t n_vectors, std::int64_t hidden, int act_bits);

  // Starts a batch of n_examples examples, the first numbered first_index: writes the EXAMPLES
  // header and every example's targets into `payload` (cleared first) and reserves room for the
  // vectors, which the forward's after_layer calls then fill in.
  void begin(std::uint64_t first_index, std::int64_t n_examples,
             const std::vector<CapturePosition>& positions, std::string* payload);
  void after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) override;

  std::size_t vector_bytes() const { return vector_bytes_; }

 private:
  std::int64_t n_vectors_, hidden_;
  int bits_;
  std::size_t vector_bytes_;
  std::string* payload_ = nullptr;
  std::vector<std::int64_t> rows_;      // per captured position: its row
  std::vector<std::size_t> offsets_;    // per captured position: where its h_0 goes in payload_
};

}  // namespace pocket
