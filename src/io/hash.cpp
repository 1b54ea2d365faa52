#include "io/hash.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "io/mapped_file.h"

namespace pocket {

// snapshot_hash(b[0..n)), the snapshot checksum (all arithmetic mod 2^64; mix64 and GAMMA as in
// hash.h):
//
//   w_i  = the 8 bytes b[8i .. 8i+7] read as a little-endian u64, i = 0 .. ceil(n/8) - 1; the
//          bytes of the last word past n are taken as 0
//   four lanes, h_l = GAMMA·(l + 1) initially (l = 0..3); word i updates lane l = i mod 4:
//          h_l = mix64(h_l ^ w_i) + GAMMA
//   hash = r_4, where r_0 = n and r_{l+1} = mix64(r_l ^ h_l)
//
// The lanes are independent chains, so a core overlaps their multiplies (word-at-a-time with one
// chain would wait on each mix64's latency); n goes in at the end so that zero padding cannot
// make two lengths collide. A snapshot's "pocket.checksum" is this hash, as 16 lowercase hex
// digits, of the concatenation of its tensors' bytes in ascending byte order of their names.

namespace {


constexpr std::size_t kBlock = 32;  // one word per lane

inline std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t word;
  std::memcpy(&word, p, 8);
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  return word;
}

inline std::uint64_t lane_step(std::uint64_t lane, std::uint64_t word) {
  return mix64(lane ^ word) + kGamma;
}

// The empty asm keeps a lane in a general register. Without it GCC packs the four lanes into one
// AVX-512 vector, whose 64-bit multiply (vpmullq, ~15 cycles) makes the hash half as fast as
// four scalar chains of imul (3 cycles).
inline void keep_scalar(std::uint64_t& lane) { asm("" : "+r"(lane)); }

// Whole blocks: lanes in locals so they stay in registers.
void hash_blocks(std::uint64_t* lanes, const std::uint8_t* data, std::size_t n_blocks) {
  std::uint64_t h0 = lanes[0], h1 = lanes[1], h2 = lanes[2], h3 = lanes[3];
  for (std::size_t b = 0; b < n_blocks; ++b, data += kBlock) {
    h0 = lane_step(h0, load_le64(data));
    h1 = lane_step(h1, load_le64(data + 8));
    h2 = lane_step(h2, load_le64(data + 16));
    h3 = lane_step(h3, load_le64(data + 24));
    keep_scalar(h0), keep_scalar(h1), keep_scalar(h2), keep_scalar(h3);
  }
  lanes[0] = h0, lanes[1] = h1, lanes[2] = h2, lanes[3] = h3;
}

}  // namespace

SnapshotHasher::SnapshotHasher() : lanes_{kGamma, 2 * kGamma, 3 * kGamma, 4 * kGamma} {}

void SnapshotHasher::update(const std::uint8_t* data, std::size_t n) {
  if (n == 0) return;  // data may be null
  total_ += n;
  if (n_pending_ > 0) {
    const std::size_t take = std::min(n, kBlock - n_pending_);
    std::memcpy(pending_ + n_pending_, data, take);
    n_pending_ += take;
    data += take;
    n -= take;
    if (n_pending_ < kBlock) return;
    hash_blocks(lanes_, pending_, 1);
    n_pending_ = 0;
  }
  const std::size_t n_blocks = n / kBlock;
  hash_blocks(lanes_, data, n_blocks);
  n_pending_ = n - n_blocks * kBlock;
  if (n_pending_ > 0) std::memcpy(pending_, data + n_blocks * kBlock, n_pending_);
}

std::uint64_t SnapshotHasher::digest() const {
  std::uint64_t lanes[4] = {lanes_[0], lanes_[1], lanes_[2], lanes_[3]};
  // The last, partial block: its words go to lanes 0, 1, ... (a block starts at a word index
  // divisible by 4), the bytes past the end are zero.
  std::uint8_t tail[kBlock] = {};
  std::memcpy(tail, pending_, n_pending_);
  for (std::size_t w = 0; w * 8 < n_pending_; ++w) {
    lanes[w] = lane_step(lanes[w], load_le64(tail + 8 * w));
  }
  std::uint64_t hash = total_;
  for (const std::uint64_t lane : lanes) hash = mix64(hash ^ lane);
  return hash;
}

std::uint64_t snapshot_hash(const std::uint8_t* data, std::size_t n) {
  SnapshotHasher hasher;
  hasher.update(data, n);
  return hasher.digest();
}

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string hex_string(const std::uint8_t* bytes, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 15];
  }
  return s;
}

// h = mix64(h ^ hash(name)) and the same for dtype, each dimension and snapshot_hash of the
// bytes, tensors in name order.
std::string model_fingerprint(const Checkpoint& checkpoint) {
  std::vector<const TensorView*> tensors = checkpoint.all();
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorView* a, const TensorView* b) { return a->name < b->name; });
  std::uint64_t h = kGamma;
  for (const TensorView* t : tensors) {
    h = mix64(h ^ fnv1a64(t->name));
    h = mix64(h ^ static_cast<std::uint64_t>(t->dtype));
    for (std::int64_t dim : t->shape) h = mix64(h ^ static_cast<std::uint64_t>(dim));
    h = mix64(h ^ snapshot_hash(t->data, t->nbytes));
  }
  return hex64(h);
}

std::string gguf_fingerprint(const GgufFile& file) {
  std::vector<const GgufTensor*> tensors;
  for (const GgufTensor& t : file.tensors()) tensors.push_back(&t);
  std::sort(tensors.begin(), tensors.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->name < b->name; });
  std::uint64_t h = kGamma;
  for (const GgufTensor* t : tensors) {
    h = mix64(h ^ fnv1a64(t->name));
    h = mix64(h ^ static_cast<std::uint64_t>(t->type));
    for (std::int64_t dim : t->dims) h = mix64(h ^ static_cast<std::uint64_t>(dim));
    h = mix64(h ^ snapshot_hash(t->data, t->nbytes));
  }
  return hex64(h);
}

std::string file_fingerprint(const std::string& path) {
  if (path.empty()) return "";
  const MappedFile file(path);
  return hex64(snapshot_hash(file.data(), file.size()));
}

}  // namespace pocket
