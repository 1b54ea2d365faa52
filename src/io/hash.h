// Hashes and their hex forms, below every layer: the primitives of the perturbation streams
// (SplitMix64's finaliser, FNV-1a of tensor names: kernels/zrng.h builds z from them), the
// snapshot checksum, and the fingerprints that tie a run or a side network to its base model and
// data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/gguf.h"
#include "io/safetensors.h"

namespace pocket {

inline constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ull;

constexpr std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// 64-bit FNV-1a over the bytes of a tensor name: the tensor's identity in every random stream.
constexpr std::uint64_t fnv1a64(std::string_view name) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

// 64-bit hash of a byte range (the snapshot checksum): fast, word-at-a-time, defined in
// hash.cpp's comment so that other tools can check a snapshot.
std::uint64_t snapshot_hash(const std::uint8_t* data, std::size_t n);

// snapshot_hash of the concatenation of the byte ranges given to update(), in order, without
// copying them into one buffer: update(a); update(b); digest() == snapshot_hash(a + b).
class SnapshotHasher {
 public:
  SnapshotHasher();
  void update(const std::uint8_t* data, std::size_t n);
  std::uint64_t digest() const;

 private:
  std::uint64_t lanes_[4];         // the four lane states (initial values: hash.cpp)
  std::uint8_t pending_[32] = {};  // the bytes of an incomplete 32-byte block
  std::size_t n_pending_ = 0;
  std::uint64_t total_ = 0;  // bytes seen
};

// "%016x" of a 64-bit value.
std::string hex64(std::uint64_t value);
// Lower-case hex of n bytes (digests in metadata, device ids in directory names and logs).
std::string hex_string(const std::uint8_t* bytes, std::size_t n);

// 64-bit hash (hex) over every tensor of a checkpoint: names, dtypes, shapes and bytes.
std::string model_fingerprint(const Checkpoint& checkpoint);
// The same over every tensor of a GGUF file: names, ggml types, dimensions and bytes.
std::string gguf_fingerprint(const GgufFile& file);
// 64-bit hash (hex) of a file's bytes ("" for an empty path): a resumed run must read the same
// data as the steps before the crash, or it would not end bit-identical.
std::string file_fingerprint(const std::string& path);

}  // namespace pocket
