// Which examples step t trains on (src/zo/README.md, "Data order"): epochs of seeded Fisher–Yates
// shuffles, concatenated, cut into batches of B. A pure function of (run seed, N, B, t), so a
// resumed run sees exactly the batches an uninterrupted one would.
#pragma once

#include <cstdint>
#include <vector>

namespace pocket {

class DataOrder {
 public:
  DataOrder(std::int64_t n_examples, std::uint64_t run_seed);

  // The examples of step t (1-based), batch of B <= N: index[0..B).
  void batch(std::int64_t t, std::int64_t B, std::int64_t* index);

  // Epoch e's permutation of [0, N).
  void permutation(std::int64_t epoch, std::int64_t* out) const;

 private:
  std::int64_t n_;
  std::uint64_t key_;
  std::int64_t epoch_ = -1;          // the epoch held in perm_
  std::vector<std::int64_t> perm_;  // sized once
};

}  // namespace pocket
