// safetensors (Hugging Face): reading with strict validation over a read-only mapping, sharded
// checkpoints through model.safetensors.index.json, and an atomic, aligned writer.
//
// File layout: u64 little-endian N, then N bytes of JSON header, then the data buffer.
//   header = { "<tensor name>": {"dtype": "F16", "shape": [r, c], "data_offsets": [begin, end]},
//              ..., "__metadata__": {"key": "string value", ...} (optional) }
// Offsets are relative to the data buffer. A valid file's tensors tile the buffer exactly: every
// byte belongs to one tensor (no holes, no overlaps), as the reference implementation requires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.h"

namespace pocket {

enum class Dtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F16" -> kF16 etc.; throws pocket::Error(where, "unknown dtype '...'") for anything else.
Dtype parse_dtype(const std::string& name, const std::string& where);
const char* dtype_name(Dtype dtype);
std::size_t dtype_size(Dtype dtype);

// Largest header accepted (the reference implementation's cap is 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

struct TensorView {
  std::string name;
  Dtype dtype = Dtype::kF16;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data = nullptr;  // into the mapping
  std::size_t nbytes = 0;
  std::string file;  // the file it lives in (for error messages)

  std::int64_t numel() const;
};

// One .safetensors file, mapped read-only and validated on open. Every violation throws
// pocket::Error("<path>: tensor '<name>'", "<problem>") (or "<path>" alone for header-level
// problems): header length past the end of the file or over kMaxSafetensorsHeader, header not
// valid JSON or not an object, an entry without dtype/shape/data_offsets, unknown dtype, negative
// dimension, shape × dtype size != byte range, begin > end, a range outside the buffer, two
// tensors overlapping, bytes of the buffer that belong to no tensor, a non-string metadata value;
// also a file shorter than 8 bytes, a key twice in one JSON object, data_offsets that are not two
// non-negative integers, a shape whose byte size overflows, and F16/BF16 data at an odd offset
// (those are used in place as uint16_t arrays).
class SafetensorsFile {
 public:
  // kReadWrite maps the file MAP_SHARED read-write (a tuning run's working copy): the tensors'
  // bytes may then be written through mutable_data(); the header is never written.
  explicit SafetensorsFile(const std::string& path, MapMode mode = MapMode::kReadOnly);

  const std::string& path() const { return map_.path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // in file (offset) order
  const TensorView* find(const std::string& name) const;               // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const MappedFile& mapping() const { return map_; }
  MappedFile& mapping() { return map_; }
  // Writable bytes of one of this file's tensors (read-write maps only).
  std::uint8_t* mutable_data(const TensorView& tensor);

 private:
  MappedFile map_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, std::size_t> index_;
};

// All tensors of a model directory: model.safetensors, or the shards listed by
// model.safetensors.index.json ({"weight_map": {"<tensor>": "<shard file>"}}). The index is
// checked against the shards: every listed tensor is in the shard it names, no tensor is in two
// shards, and every tensor of a shard is listed.
class Checkpoint {
 public:
  // dir: a model directory. Throws pocket::Error naming the directory when it has neither file.
  explicit Checkpoint(const std::string& dir, MapMode mode = MapMode::kReadOnly);

  const std::string& dir() const { return dir_; }
  const TensorView* find(const std::string& name) const;  // nullptr if absent
  // The tensor, checked: throws pocket::Error("<file>: tensor '<name>'", ...) if it is missing,
  // its dtype is not `dtype`, or its shape is not `shape`.
  const TensorView& require(const std::string& name, Dtype dtype,
                            const std::vector<std::int64_t>& shape) const;
  std::vector<const TensorView*> all() const;  // every tensor of every shard
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  std::uint64_t total_bytes() const;  // sum of the tensors' byte sizes
  // Writable bytes of a tensor of a checkpoint opened kReadWrite; throws if read-only or absent.
  std::uint8_t* mutable_data(const std::string& name);
  // msync of every file (after updates, before a snapshot).
  void sync();

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> by_name_;
};

// "[2, 3]": a shape in error messages.
std::string shape_text(const std::vector<std::int64_t>& shape);

// Writing. The writer lays tensors out so that each one starts on a 64-byte boundary of the file
// while the buffer stays gap-free (so the reference implementation still reads it): the header is
// padded with spaces to end on a 64-byte boundary, tensors whose byte size is a multiple of 64
// come first (in the given order), the others (small vectors of odd length) after them, largest
// element size first, so that every tensor is aligned to its element size.
struct TensorSpec {
  std::string name;
  Dtype dtype = Dtype::kF16;
  std::vector<std::int64_t> shape;
};

// fill(i, dst, nbytes) writes tensor specs[i]'s bytes (little-endian) into dst. The file is
// written atomically (write_file_atomic_mapped): temp file, fsync, rename.
void write_safetensors(
    const std::string& path, const std::vector<TensorSpec>& specs,
    const std::map<std::string, std::string>& metadata,
    const std::function<void(std::size_t index, std::uint8_t* dst, std::size_t nbytes)>& fill);

}  // namespace pocket
