#include "zo/snapshot.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <system_error>

#include "io/atomic_file.h"
#include "io/error.h"
#include "zo/crash_point.h"
#include "kernels/zrng.h"

namespace pocket {

// snapshot_hash(b[0..n)), the snapshot checksum (all arithmetic mod 2^64; mix64 and GAMMA as in
// kernels/zrng.h):
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

constexpr const char* kPrefix = "snap-";
constexpr const char* kSuffix = ".safetensors";

std::string snapshot_name(std::uint64_t step) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%09llu", static_cast<unsigned long long>(step));
  return kPrefix + std::string(digits) + kSuffix;
}

// "snap-<decimal>.safetensors" -> the step; nullopt for any other name.
std::optional<std::uint64_t> snapshot_step(const std::string& name) {
  const std::size_t prefix = std::strlen(kPrefix), suffix = std::strlen(kSuffix);
  if (name.size() <= prefix + suffix || name.compare(0, prefix, kPrefix) != 0 ||
      name.compare(name.size() - suffix, suffix, kSuffix) != 0) {
    return std::nullopt;
  }
  const char* first = name.data() + prefix;
  const char* last = name.data() + name.size() - suffix;
  std::uint64_t step = 0;
  const auto [end, ec] = std::from_chars(first, last, step);
  if (ec != std::errc() || end != last) return std::nullopt;
  return step;
}

// The atomic writer's temporary files are "<target>.tmp-<pid>-<n>".
bool is_snapshot_temp(const std::string& name) {
  const std::size_t tmp = name.find(std::string(kSuffix) + ".tmp-");
  return tmp != std::string::npos && snapshot_step(name.substr(0, tmp + std::strlen(kSuffix)));
}

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// The directory's entry names (not recursive).
std::vector<std::string> entry_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) throw Error(dir, "cannot list the run directory: " + ec.message());
  return names;
}

void remove_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) throw Error(path, "cannot delete the old snapshot: " + ec.message());
}

// Deletes the snapshots older than the newest keep - 1 below `step`, and crashed writes' temps.
void prune_snapshots(const std::string& run_dir, std::uint64_t step, int keep) {
  std::vector<std::pair<std::uint64_t, std::string>> older;
  for (const std::string& name : entry_names(run_dir)) {
    if (is_snapshot_temp(name)) {
      remove_file(run_dir + "/" + name);
    } else if (const auto s = snapshot_step(name); s && *s < step) {
      older.emplace_back(*s, name);
    }
  }
  std::sort(older.begin(), older.end(), std::greater<>());
  for (std::size_t i = static_cast<std::size_t>(keep - 1); i < older.size(); ++i) {
    remove_file(run_dir + "/" + older[i].second);
  }
}

// Checks one snapshot file; throws pocket::Error(path, why) when it is not valid.
void check_snapshot(const std::string& path, std::uint64_t step, const std::string& run_id) {
  const SafetensorsFile file(path);
  const auto& metadata = file.metadata();
  const auto value = [&](const std::string& key) -> const std::string& {
    const auto it = metadata.find(key);
    if (it == metadata.end()) throw Error(path, "no \"" + key + "\" in the metadata");
    return it->second;
  };
  const std::string& step_text = value("pocket.step");
  if (step_text != std::to_string(step)) {
    throw Error(path, "pocket.step is '" + step_text + "', the name says " + std::to_string(step));
  }
  if (const std::string& run = value("pocket.run"); run != run_id) {
    throw Error(path, "from run '" + run + "', not this run ('" + run_id + "')");
  }
  std::vector<const TensorView*> by_name;
  for (const TensorView& tensor : file.tensors()) by_name.push_back(&tensor);
  std::sort(by_name.begin(), by_name.end(),
            [](const TensorView* a, const TensorView* b) { return a->name < b->name; });
  SnapshotHasher hasher;
  for (const TensorView* tensor : by_name) hasher.update(tensor->data, tensor->nbytes);
  const std::string& stored = value("pocket.checksum");
  if (const std::string actual = hex64(hasher.digest()); actual != stored) {
    throw Error(
        path, "checksum mismatch: the metadata says " + stored + ", the data hashes to " + actual);
  }
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

void write_snapshot(const std::string& run_dir, std::uint64_t step, const std::string& run_id,
                    const std::vector<SnapshotTensor>& tensors, int keep) {
  if (keep < 1) {
    throw Error(run_dir, "snapshots to keep must be at least 1, got " + std::to_string(keep));
  }
  const std::string path = run_dir + "/" + snapshot_name(step);

  std::vector<TensorSpec> specs;
  std::vector<std::size_t> nbytes;
  for (const SnapshotTensor& tensor : tensors) {
    std::size_t size = dtype_size(tensor.dtype);
    for (const std::int64_t dim : tensor.shape) {
      if (dim < 0 || __builtin_mul_overflow(size, static_cast<std::uint64_t>(dim), &size)) {
        throw Error(path + ": tensor '" + tensor.name + "'", "invalid shape");
      }
    }
    if (size > 0 && tensor.data == nullptr) {
      throw Error(path + ": tensor '" + tensor.name + "'", "no data");
    }
    specs.push_back({tensor.name, tensor.dtype, tensor.shape});
    nbytes.push_back(size);
  }

  std::vector<std::size_t> by_name(tensors.size());
  for (std::size_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  std::sort(by_name.begin(), by_name.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].name < tensors[b].name; });
  SnapshotHasher hasher;
  for (const std::size_t i : by_name) {
    hasher.update(static_cast<const std::uint8_t*>(tensors[i].data), nbytes[i]);
  }

  const std::map<std::string, std::string> metadata = {{"pocket.step", std::to_string(step)},
                                                       {"pocket.run", run_id},
                                                       {"pocket.checksum", hex64(hasher.digest())}};
  std::size_t filled = 0;
  write_safetensors(path, specs, metadata, [&](std::size_t i, std::uint8_t* dst, std::size_t n) {
    if (n > 0) std::memcpy(dst, tensors[i].data, n);
    // Crash test hook: killed with half the tensors in the temporary file.
    if (++filled == tensors.size() / 2 + 1) crash_point("snapshot", static_cast<std::int64_t>(step));
  });
  prune_snapshots(run_dir, step, keep);
  fsync_directory(run_dir);
}

std::vector<SnapshotInfo> valid_snapshots(const std::string& run_dir, const std::string& run_id,
                                          std::vector<std::string>* rejected) {
  std::vector<SnapshotInfo> valid;
  for (const std::string& name : entry_names(run_dir)) {
    const auto step = snapshot_step(name);
    if (!step) continue;  // not a snapshot, or a temporary file of a write in progress
    const std::string path = run_dir + "/" + name;
    try {
      check_snapshot(path, *step, run_id);
      valid.push_back({path, *step});
    } catch (const Error& e) {
      if (rejected) rejected->push_back(e.what());
    }
  }
  std::sort(valid.begin(), valid.end(),
            [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.step > b.step; });
  return valid;
}

}  // namespace pocket
