// GGUF (ggml / llama.cpp): a strict, zero-copy reader of versions 2 and 3 over a read-only mapping.
// Only the container: no name mapping, no dequantization.
//
// File layout, all little-endian; a string is u64 length + that many bytes (no NUL):
//   "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count x { string key, u32 value_type, value }
//     value: a scalar of its type (bool = 1 byte), a string, or an array:
//            u32 element_type, u64 count, count elements (arrays of arrays allowed)
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims] (ne[0] varies fastest),
//                    u32 ggml_type, u64 offset (relative to the data section) }
//   padding to general.alignment (u32, default 32), then the data section: each tensor at its
//   offset, a multiple of the alignment.
// A block type stores ne[0] / block_size blocks of block_bytes per row (Q8_0: 32 values in 34
// bytes), so ne[0] must be a multiple of its block size.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "io/mapped_file.h"

namespace pocket {

// Metadata value types, with GGUF's numbering.
enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* gguf_type_name(GgufType type);

// The tensor types this reader accepts, with ggml's numbering (enum ggml_type). Other ggml types
// (the IQ and ternary formats, integer tensors) are refused by name as unsupported.
enum class GgmlType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};
const char* ggml_type_name(GgmlType type);
std::size_t ggml_block_size(GgmlType type);   // values per block (1 for F32/F16/BF16)
std::size_t ggml_block_bytes(GgmlType type);  // bytes per block

// Caps on what a header may declare (llama.cpp's own files are far below them).
inline constexpr std::uint64_t kMaxGgufTensors = 1ull << 20;
inline constexpr std::uint64_t kMaxGgufKvs = 1ull << 20;
inline constexpr std::uint64_t kMaxGgufString = 1ull << 20;  // bytes
inline constexpr std::uint64_t kMaxGgufArray = 1ull << 28;   // elements
inline constexpr int kMaxGgufArrayDepth = 8;                 // arrays of arrays of ...
inline constexpr std::uint64_t kGgufDefaultAlignment = 32;

// One metadata value, pointing into the mapping. Scalars and numeric array elements are read
// with memcpy: they follow strings of any length, so they need not be aligned.
class GgufValue {
 public:
  GgufType type() const { return type_; }

  // Scalars; the type must match (asserted). Typed, range-checked access by key is on GgufFile.
  template <class T>
  T scalar() const {
    assert(sizeof(T) == fixed_size(type_));
    T out;
    std::memcpy(&out, data_, sizeof out);
    return out;
  }
  std::string_view string() const {  // type() == kString
    assert(type_ == GgufType::kString);
    return {reinterpret_cast<const char*>(data_), static_cast<std::size_t>(size_)};
  }

  // Arrays (type() == kArray).
  GgufType element_type() const { return element_type_; }
  std::uint64_t size() const { return size_; }  // number of elements
  template <class T>
  T element(std::uint64_t i) const {  // numeric or bool element; T must match (asserted)
    assert(type_ == GgufType::kArray && sizeof(T) == fixed_size(element_type_) && i < size_);
    T out;
    std::memcpy(&out, data_ + i * sizeof(T), sizeof out);
    return out;
  }
  std::string_view string_element(std::uint64_t i) const { return strings_.at(i); }
  const GgufValue& array_element(std::uint64_t i) const { return arrays_.at(i); }
  template <class T>
  std::vector<T> to_vector() const {  // a copy of a numeric array
    std::vector<T> out(static_cast<std::size_t>(size_));
    for (std::uint64_t i = 0; i < size_; ++i) out[i] = element<T>(i);
    return out;
  }

  // Bytes of one scalar of `type`; 0 for strings and arrays.
  static std::size_t fixed_size(GgufType type);

 private:
  friend class GgufParser;
  GgufType type_ = GgufType::kUint8;
  GgufType element_type_ = GgufType::kUint8;
  const std::uint8_t* data_ = nullptr;     // the scalar, the string's bytes, the first element
  std::uint64_t size_ = 0;                 // string length or element count
  std::vector<std::string_view> strings_;  // elements of a string array
  std::vector<GgufValue> arrays_;          // elements of an array of arrays
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<std::int64_t> dims;      // GGUF order: dims[0] = ne[0], the fastest-varying
  std::uint64_t offset = 0;            // in the data section
  const std::uint8_t* data = nullptr;  // into the mapping
  std::size_t nbytes = 0;

  std::int64_t numel() const;
};

// One .gguf file, mapped read-only and validated on open. Every violation throws pocket::Error
// naming the file and, where there is one, "key '<k>'" or "tensor '<name>'", then the problem:
// bad magic, a version other than 2 or 3, a count, string or array that runs past the end of the
// file or over its cap, an unknown value type, a bool other than 0/1, a key or tensor name twice,
// general.alignment not a u32 power of two, n_dims outside 1..4, a dimension <= 0, an unknown or
// unsupported tensor type, ne[0] not a multiple of the block size, an offset not a multiple of
// the alignment, a tensor outside the data section or overlapping another.
class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return map_.path(); }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const MappedFile& mapping() const { return map_; }

  // Metadata in file order, and by key (nullptr if absent).
  struct Entry {
    std::string_view key;
    GgufValue value;
  };
  const std::vector<Entry>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters: throw pocket::Error("<path>: key '<k>'", ...) when the key is missing or its
  // value has another type. get_integer accepts any integer type whose value fits T.
  std::string_view get_string(std::string_view key) const;
  template <class T>
  T get_integer(std::string_view key) const {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    const Integer value = integer(key);
    const bool fits = value.negative ? std::in_range<T>(static_cast<std::int64_t>(value.bits))
                                     : std::in_range<T>(value.bits);
    if (!fits) integer_out_of_range(key, value, std::is_signed_v<T>, sizeof(T));
    return static_cast<T>(value.bits);
  }
  double get_float(std::string_view key) const;  // float32 or float64
  bool get_bool(std::string_view key) const;
  // An array whose elements have type `element` (e.g. kString for tokenizer.ggml.tokens).
  const GgufValue& get_array(std::string_view key, GgufType element) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // in file order
  const GgufTensor* find_tensor(std::string_view name) const;          // nullptr if absent

 private:
  struct Integer {
    std::uint64_t bits = 0;  // the value as u64 (two's complement when negative)
    bool negative = false;
  };
  Integer integer(std::string_view key) const;
  [[noreturn]] void integer_out_of_range(std::string_view key, Integer value, bool is_signed,
                                         std::size_t bytes) const;
  const GgufValue& require(std::string_view key) const;

  MappedFile map_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = kGgufDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<Entry> metadata_;
  std::map<std::string_view, std::size_t> key_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace pocket
