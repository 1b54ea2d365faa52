#include "task/data_order.h"

#include <numeric>
#include <utility>

#include "io/error.h"
#include "kernels/zrng.h"

namespace pocket {

namespace {
constexpr std::uint64_t kDataDomain = 0x4441544144415441ull;  // "DATADATA"
}

DataOrder::DataOrder(std::int64_t n_examples, std::uint64_t run_seed)
    : n_(n_examples), key_(run_seed ^ kDataDomain), perm_(static_cast<std::size_t>(n_examples)) {
  if (n_examples < 1) throw Error("data", "no examples");
}

// p = [0..N); for i = N-1 down to 1: j = z_word(k_e, i) mod (i + 1), swap p[i], p[j].
void DataOrder::permutation(std::int64_t epoch, std::int64_t* out) const {
  std::iota(out, out + n_, std::int64_t{0});
  const std::uint64_t k = z_key(key_, static_cast<std::uint64_t>(epoch));
  for (std::int64_t i = n_ - 1; i >= 1; --i) {
    const std::uint64_t j =
        z_word(k, static_cast<std::uint64_t>(i)) % static_cast<std::uint64_t>(i + 1);
    std::swap(out[i], out[j]);
  }
}

void DataOrder::batch(std::int64_t t, std::int64_t B, std::int64_t* index) {
  if (B < 1 || B > n_) throw Error("data", "batch size outside 1.." + std::to_string(n_));
  std::int64_t position = (t - 1) * B;
  for (std::int64_t i = 0; i < B; ++i, ++position) {
    const std::int64_t epoch = position / n_;
    if (epoch != epoch_) {
      permutation(epoch, perm_.data());
      epoch_ = epoch;
    }
    index[i] = perm_[static_cast<std::size_t>(position % n_)];
  }
}

}  // namespace pocket
