// Writing GGUF v3 files, as llama.cpp's gguf writer lays them out: header, metadata in the order
// added, tensor infos in the order given, padding to general.alignment (32 unless set), then each
// tensor's bytes at an aligned offset. The file is created atomically (temp, fsync, rename), so a
// failed or interrupted write leaves nothing behind; reading it back with GgufFile is the check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace pocket {

// Metadata entries, encoded as they are added (keys must be unique: checked on write).
class GgufMetadata {
 public:
  void add_string(const std::string& key, const std::string& value);
  void add_u32(const std::string& key, std::uint32_t value);
  void add_i32(const std::string& key, std::int32_t value);
  void add_u64(const std::string& key, std::uint64_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_f32_array(const std::string& key, const std::vector<float>& values);
  void add_i32_array(const std::string& key, const std::vector<std::int32_t>& values);
  // A value read from another file, of any type (arrays of arrays included), bit for bit.
  void add_copy(const std::string& key, const GgufValue& value);

  std::size_t size() const { return keys_.size(); }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::string& encoded() const { return bytes_; }

 private:
  void key(const std::string& key, GgufType type);
  void value(const GgufValue& value);
  std::vector<std::string> keys_;
  std::string bytes_;
};

struct GgufTensorSpec {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<std::int64_t> dims;  // GGUF order: dims[0] fastest (an HF [out, in] is {in, out})
};

// Bytes of a tensor of this spec (dims[0] a multiple of the type's block size).
std::size_t gguf_tensor_bytes(const GgufTensorSpec& spec);

// Writes `path`: fill(i, dst, nbytes) writes tensor i's bytes. Throws pocket::Error naming the
// path for a duplicate key or tensor name, a bad spec, or a failed write (nothing is left then).
void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorSpec>& tensors,
                const std::function<void(std::size_t index, std::uint8_t* dst, std::size_t nbytes)>&
                    fill,
                std::uint32_t alignment = static_cast<std::uint32_t>(kGgufDefaultAlignment));

}  // namespace pocket
