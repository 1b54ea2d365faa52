// Snapshots of a run's trainable state: snap-<step>.safetensors in the run directory, written
// atomically (temp name, fsync, rename, fsync of the directory); the last `keep` are kept.
//
// A snapshot holds the fp16 trainable tensors under their checkpoint names, and with an fp32
// master the masters as F32 tensors named "master." + name. Metadata: "pocket.step", "pocket.run"
// (the run id from meta.json) and "pocket.checksum" (hex of a 64-bit hash over the data buffer),
// checked when the snapshot is read, so a snapshot that is torn, truncated or bit-flipped is
// recognised as invalid and an older one (or the base model) is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace pocket {

struct SnapshotTensor {
  std::string name;           // as in the checkpoint (or "master." + name)
  Dtype dtype = Dtype::kF16;  // kF16 or kF32
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // the bytes to save, nbytes = product(shape) · size(dtype)
};

// Writes RUN/snap-<step>.safetensors (step zero-padded to 9 digits, so names sort by step) and
// keeps it and the keep - 1 newest snapshots older than it; older ones, and temporary files left
// by a snapshot write that crashed, are deleted. Snapshots with a larger step are left alone.
// The tensors' bytes must not change during the call (they are hashed, then copied).
void write_snapshot(const std::string& run_dir, std::uint64_t step, const std::string& run_id,
                    const std::vector<SnapshotTensor>& tensors, int keep = 2);

struct SnapshotInfo {
  std::string path;
  std::uint64_t step = 0;
};

// Snapshots of run_dir, newest first, that parse, carry run_id and pass the checksum. Invalid
// ones are reported in `rejected` ("<file>: <why>") and skipped.
std::vector<SnapshotInfo> valid_snapshots(const std::string& run_dir, const std::string& run_id,
                                          std::vector<std::string>* rejected = nullptr);

}  // namespace pocket
