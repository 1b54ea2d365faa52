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
#include "io/hash.h"
#include "zo/crash_point.h"

namespace pocket {

namespace {

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
