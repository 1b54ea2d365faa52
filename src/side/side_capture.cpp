#include "side/side_capture.h"

#include <cstring>

#include "io/error.h"
#include "side/act_codec.h"

namespace pocket {

namespace {

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);  // little-endian hosts only
}

}  // namespace

SideCapture::SideCapture(std::int64_t n_vectors, std::int64_t hidden, int act_bits)
    : n_vectors_(n_vectors),
      hidden_(hidden),
      bits_(act_bits),
      vector_bytes_(act_vector_bytes(hidden, act_bits)) {}

void SideCapture::begin(std::uint64_t first_index, std::int64_t n_examples,
                        const std::vector<CapturePosition>& positions, std::string* payload) {
  payload_ = payload;
  payload->clear();
  put<std::uint64_t>(*payload, first_index);
  put<std::uint32_t>(*payload, static_cast<std::uint32_t>(n_examples));
  rows_.clear();
  offsets_.clear();
  std::size_t p = 0;
  for (std::int64_t e = 0; e < n_examples; ++e) {
    const std::size_t begin = p;
    while (p < positions.size() && positions[p].example == e) ++p;
    if (p == begin) throw Error("side", "an example without a position the loss reads");
    const std::size_t count = p - begin;
    put<std::uint32_t>(*payload, static_cast<std::uint32_t>(count));
    for (std::size_t i = begin; i < p; ++i) put<std::int32_t>(*payload, positions[i].target);
    for (std::size_t i = begin; i < p; ++i) {
      rows_.push_back(positions[i].row);
      offsets_.push_back(payload->size() + (i - begin) * n_vectors_ * vector_bytes_);
    }
    payload->resize(payload->size() + count * n_vectors_ * vector_bytes_);
  }
  if (p != positions.size()) throw Error("side", "capture positions are not grouped by example");
}

void SideCapture::after_layer(std::int64_t layer, float* x, std::int64_t rows, std::int64_t width) {
  if (payload_ == nullptr) return;
  if (width != hidden_ || layer >= n_vectors_) throw Error("side", "hidden states of an unexpected shape");
  auto* out = reinterpret_cast<std::uint8_t*>(payload_->data());
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (rows_[i] >= rows) throw Error("side", "capture row outside the batch");
    quantize_vector(x + rows_[i] * width, width, bits_,
                    out + offsets_[i] + static_cast<std::size_t>(layer) * vector_bytes_);
  }
}

}  // namespace pocket
