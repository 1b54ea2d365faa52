// What one device asks a side-tuning server to train (the TASK message, docs/side-protocol.md),
// and the schedule that follows from it. The server holds no other job state worth keeping: the
// examples (example_store.h) and the side network's checkpoint (side_trainer.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket {

struct SideTaskSpec {
  bool lm = false;                      // false: classification over `candidates`
  int act_bits = 8;                     // 8 or 4 (act_codec.h)
  std::int64_t n_vectors = 0;           // hidden states per position: L + 1
  std::int64_t hidden = 0;              // d
  std::vector<std::int32_t> candidates; // classification: the vocabulary rows scored, in label order
  std::int64_t n_train = 0;             // examples 0..n_train-1 train (in the device's shuffled order)
  std::int64_t n_dev = 0;               // examples n_train..n_train+n_dev-1 evaluate
  std::int64_t reduction = 8;           // side width = hidden / reduction
  std::int64_t epochs = 3;
  std::int64_t batch = 16;              // examples per step
  float lr = 1e-3f;                     // Adam
  std::uint64_t seed = 0;               // side network init and the order of epochs after the first
  bool operator==(const SideTaskSpec&) const = default;

  std::int64_t steps_per_epoch() const { return (n_train + batch - 1) / batch; }
  std::int64_t total_steps() const { return epochs * steps_per_epoch(); }
  std::int64_t n_total() const { return n_train + n_dev; }
};

// Checks the numbers a device sent against the server's model and its own limits; throws
// pocket::Error with the reason (sent back to the device as an ERROR).
void check_side_task(const SideTaskSpec& spec, std::int64_t model_hidden, std::int64_t model_layers,
                     std::int64_t vocab);

// One line for logs: "classification, 2 classes, 800 train + 400 dev, 8-bit, r 8, 3 epochs ...".
std::string describe_side_task(const SideTaskSpec& spec);

}  // namespace pocket
