// A file mapped into memory (RAII). Weights are used in place through this: an F16 tensor of a
// checkpoint is a pointer into the mapping, never a copy.
//
// Read-only maps are PROT_READ + MAP_SHARED: clean page-cache pages the kernel can drop and
// re-read under memory pressure, shared by every process that maps the same checkpoint. The
// read-write map (MAP_SHARED) stores to the file. The copy-on-write map (MAP_PRIVATE, writable) is
// how a tuning run holds its weights: untouched pages stay shared page cache, a page the update
// writes becomes private memory of the process, and the file is never written through it (a
// shared writable map would make the kernel write the whole trainable set back to the disk after
// every step: gigabytes of flash writes per step on a phone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pocket {

enum class MapMode { kReadOnly, kReadWrite, kCopyOnWrite };

// Access-pattern hints passed to madvise (best effort; ignored where unsupported).
enum class MapAdvice { kNormal, kSequential, kRandom, kWillNeed, kDontNeed };

class MappedFile {
 public:
  MappedFile() = default;
  // Maps the whole file. Throws pocket::Error("<path>", "...") when it cannot be opened or mapped.
  // An empty file maps to data() == nullptr, size() == 0.
  explicit MappedFile(const std::string& path, MapMode mode = MapMode::kReadOnly);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::uint8_t* mutable_data();  // read-write and copy-on-write maps only
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  MapMode mode() const { return mode_; }

  // madvise over [offset, offset + length) (rounded out to pages); length 0 = to the end.
  void advise(MapAdvice advice, std::size_t offset = 0, std::size_t length = 0) const;
  // msync + fsync of a read-write map: its stores are on disk when this returns.
  void sync() const;

 private:
  void reset() noexcept;
  std::string path_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  MapMode mode_ = MapMode::kReadOnly;
  int fd_ = -1;  // kept open by read-write maps only, for the fsync in sync()
};

}  // namespace pocket
