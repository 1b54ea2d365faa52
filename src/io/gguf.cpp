#include "io/gguf.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>

#include "io/error.h"

namespace pocket {

namespace {

// A name as messages show it: quoted, control characters escaped, cut at 200 bytes, so that an
// error stays one readable line whatever the file holds.
std::string quote(std::string_view name) {
  std::string out = "'";
  for (const char c : name.substr(0, 200)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + (name.size() > 200 ? "...'" : "'");
}

std::string range_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

struct TypeInfo {
  std::uint32_t id;
  const char* name;
  std::size_t block_size;
  std::size_t block_bytes;  // 0: a ggml type this reader does not support
};

// ggml's types, block sizes and bytes per block (ggml-common.h: e.g. block_q8_0 = fp16 scale +
// 32 int8, block_q4_K = 2 fp16 + 12 bytes of scales + 128 bytes of nibbles per 256 values).
constexpr TypeInfo kTypes[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {16, "IQ2_XXS", 0, 0},  {17, "IQ2_XS", 0, 0},
    {18, "IQ3_XXS", 0, 0},  {19, "IQ1_S", 0, 0},    {20, "IQ4_NL", 0, 0},   {21, "IQ3_S", 0, 0},
    {22, "IQ2_S", 0, 0},    {23, "IQ4_XS", 0, 0},   {24, "I8", 0, 0},       {25, "I16", 0, 0},
    {26, "I32", 0, 0},      {27, "I64", 0, 0},      {28, "F64", 0, 0},      {29, "IQ1_M", 0, 0},
    {30, "BF16", 1, 2},     {34, "TQ1_0", 0, 0},    {35, "TQ2_0", 0, 0},    {39, "MXFP4", 0, 0},
};

const TypeInfo* type_info(std::uint32_t id) {
  for (const TypeInfo& info : kTypes) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

constexpr const char* kValueTypeNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                           "int32",  "float32", "bool",   "string", "array",
                                           "uint64", "int64",   "float64"};

bool known_value_type(std::uint32_t id) { return id < std::size(kValueTypeNames); }

// "a uint32", "an int8", "an array of string": a value's type as messages name it.
std::string type_phrase(const GgufValue& value) {
  if (value.type() == GgufType::kArray) {
    return std::string("an array of ") + gguf_type_name(value.element_type());
  }
  const std::string name = gguf_type_name(value.type());
  return (name[0] == 'i' || name[0] == 'a' ? "an " : "a ") + name;
}

}  // namespace

const char* gguf_type_name(GgufType type) {
  const auto id = static_cast<std::uint32_t>(type);
  return known_value_type(id) ? kValueTypeNames[id] : "unknown";
}

const char* ggml_type_name(GgmlType type) {
  return type_info(static_cast<std::uint32_t>(type))->name;
}
std::size_t ggml_block_size(GgmlType type) {
  return type_info(static_cast<std::uint32_t>(type))->block_size;
}
std::size_t ggml_block_bytes(GgmlType type) {
  return type_info(static_cast<std::uint32_t>(type))->block_bytes;
}

std::size_t GgufValue::fixed_size(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

std::int64_t GgufTensor::numel() const {
  return std::accumulate(dims.begin(), dims.end(), std::int64_t{1},
                         [](std::int64_t a, std::int64_t b) { return a * b; });
}

// A cursor over the mapped bytes: every read is bounds-checked and throws pocket::Error(where,
// ...) naming what was being read.
class GgufParser {
 public:
  GgufParser(const std::uint8_t* data, std::uint64_t size) : data_(data), size_(size) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  void need(std::uint64_t bytes, const std::string& where, const std::string& what) const {
    if (bytes > remaining()) {
      throw Error(where, what + " runs past the end of the file (" + std::to_string(bytes) +
                             " bytes at offset " + std::to_string(pos_) + ", file is " +
                             std::to_string(size_) + " bytes)");
    }
  }
  std::uint32_t u32(const std::string& where, const std::string& what) {
    return static_cast<std::uint32_t>(read(4, where, what));
  }
  std::uint64_t u64(const std::string& where, const std::string& what) {
    return read(8, where, what);
  }

  std::string_view string(const std::string& where, const std::string& what) {
    const std::uint64_t length = u64(where, what + " length");
    if (length > kMaxGgufString) {
      throw Error(where, what + " length " + std::to_string(length) + " exceeds the cap of " +
                             std::to_string(kMaxGgufString) + " bytes");
    }
    need(length, where, what + " of length " + std::to_string(length));
    const std::string_view out(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return out;
  }

  GgufType value_type(const std::string& where, const std::string& what) {
    const std::uint32_t id = u32(where, what);
    if (!known_value_type(id)) throw Error(where, "unknown " + what + " " + std::to_string(id));
    return static_cast<GgufType>(id);
  }

  // A value of `type`; depth counts the arrays around it.
  GgufValue value(GgufType type, const std::string& where, int depth) {
    GgufValue out;
    out.type_ = type;
    if (type == GgufType::kString) {
      const std::string_view text = string(where, "string");
      out.data_ = reinterpret_cast<const std::uint8_t*>(text.data());
      out.size_ = text.size();
    } else if (type == GgufType::kArray) {
      array(out, where, depth + 1);
    } else {
      need(GgufValue::fixed_size(type), where, gguf_type_name(type));
      out.data_ = data_ + pos_;
      if (type == GgufType::kBool) check_bools(out.data_, 1, where);
      pos_ += GgufValue::fixed_size(type);
    }
    return out;
  }

 private:
  std::uint64_t read(int bytes, const std::string& where, const std::string& what) {
    need(bytes, where, what);
    std::uint64_t out = 0;
    for (int b = 0; b < bytes; ++b) out |= std::uint64_t{data_[pos_ + b]} << (8 * b);
    pos_ += bytes;
    return out;
  }

  static void check_bools(const std::uint8_t* bytes, std::uint64_t count,
                          const std::string& where) {
    for (std::uint64_t i = 0; i < count; ++i) {
      if (bytes[i] > 1) {
        throw Error(where, "bool value " + std::to_string(bytes[i]) + " is not 0 or 1");
      }
    }
  }

  void array(GgufValue& out, const std::string& where, int depth) {
    if (depth > kMaxGgufArrayDepth) {
      throw Error(where, "arrays nested deeper than " + std::to_string(kMaxGgufArrayDepth));
    }
    out.element_type_ = value_type(where, "array element type");
    const GgufType element = out.element_type_;
    const std::uint64_t count = u64(where, "array length");
    const std::string what = "array of " + std::to_string(count) + " " + gguf_type_name(element);
    if (count > kMaxGgufArray) {
      throw Error(where,
                  what + " exceeds the cap of " + std::to_string(kMaxGgufArray) + " elements");
    }
    // The smallest an element can be: a string is at least its length, an array its element
    // type and length. A count that cannot fit fails here, before anything is allocated for it.
    const std::uint64_t min_bytes = element == GgufType::kString  ? 8
                                    : element == GgufType::kArray ? 12
                                                                  : GgufValue::fixed_size(element);
    if (count > remaining() / min_bytes) {
      throw Error(where, what + " (at least " + std::to_string(min_bytes) +
                             " bytes each) runs past the end of the file (" +
                             std::to_string(remaining()) + " bytes left at offset " +
                             std::to_string(pos_) + ")");
    }
    out.size_ = count;
    out.data_ = data_ + pos_;
    if (element == GgufType::kString) {
      out.strings_.reserve(count);
      for (std::uint64_t i = 0; i < count; ++i) out.strings_.push_back(string(where, "string"));
    } else if (element == GgufType::kArray) {
      out.arrays_.reserve(count);
      for (std::uint64_t i = 0; i < count; ++i) {
        out.arrays_.push_back(value(GgufType::kArray, where, depth));
      }
    } else {
      if (element == GgufType::kBool) check_bools(out.data_, count, where);
      pos_ += count * min_bytes;
    }
  }

  const std::uint8_t* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
};

GgufFile::GgufFile(const std::string& path) : map_(path) {
  GgufParser in(map_.data(), map_.size());

  in.need(4, path, "magic");
  if (std::memcmp(map_.data(), "GGUF", 4) != 0) {
    throw Error(path, "not a GGUF file: bad magic " +
                          quote(std::string_view(reinterpret_cast<const char*>(map_.data()), 4)) +
                          " (expected 'GGUF')");
  }
  in.u32(path, "magic");
  version_ = in.u32(path, "version");
  if (version_ != 2 && version_ != 3) {
    if (__builtin_bswap32(version_) == 2 || __builtin_bswap32(version_) == 3) {
      throw Error(path, "big-endian GGUF (version " + std::to_string(__builtin_bswap32(version_)) +
                            ") is not supported");
    }
    throw Error(path, "GGUF version " + std::to_string(version_) +
                          " is not supported (only versions 2 and 3)");
  }
  const std::uint64_t tensor_count = in.u64(path, "header (tensor count)");
  const std::uint64_t kv_count = in.u64(path, "header (metadata count)");
  // Each KV takes at least 13 bytes (key length, type, a 1-byte value), each tensor info 32 (name
  // length, n_dims, one dimension, type, offset): counts that cannot fit fail before any work.
  if (tensor_count > kMaxGgufTensors) {
    throw Error(path, "tensor count " + std::to_string(tensor_count) + " exceeds the cap of " +
                          std::to_string(kMaxGgufTensors));
  }
  if (kv_count > kMaxGgufKvs) {
    throw Error(path, "metadata count " + std::to_string(kv_count) + " exceeds the cap of " +
                          std::to_string(kMaxGgufKvs));
  }
  if (tensor_count * 32 > in.remaining()) {
    throw Error(path, "tensor count " + std::to_string(tensor_count) +
                          " cannot fit in the file (needs at least " +
                          std::to_string(tensor_count * 32) + " bytes, " +
                          std::to_string(in.remaining()) + " left after the header)");
  }
  if (kv_count * 13 + tensor_count * 32 > in.remaining()) {
    throw Error(path, "metadata count " + std::to_string(kv_count) +
                          " cannot fit in the file (needs at least " +
                          std::to_string(kv_count * 13) + " bytes, " +
                          std::to_string(in.remaining() - tensor_count * 32) +
                          " left for metadata)");
  }

  metadata_.reserve(kv_count);
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    const std::string_view key = in.string(path + ": key #" + std::to_string(i), "key");
    const std::string where = path + ": key " + quote(key);
    if (!key_index_.emplace(key, metadata_.size()).second) {
      throw Error(where, "appears twice in the metadata");
    }
    const GgufType type = in.value_type(where, "value type");
    metadata_.push_back({key, in.value(type, where, 0)});
  }

  if (const GgufValue* alignment = find("general.alignment")) {
    const std::string where = path + ": key 'general.alignment'";
    if (alignment->type() != GgufType::kUint32) {
      throw Error(where, "is " + type_phrase(*alignment) + ", expected a uint32");
    }
    alignment_ = alignment->scalar<std::uint32_t>();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
      throw Error(where, "alignment " + std::to_string(alignment_) + " is not a power of two");
    }
  }

  tensors_.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor tensor;
    tensor.name = std::string(in.string(path + ": tensor #" + std::to_string(i), "tensor name"));
    const std::string where = path + ": tensor " + quote(tensor.name);
    if (!tensor_index_.emplace(tensor.name, tensors_.size()).second) {
      throw Error(where, "appears twice in the tensor infos");
    }
    const std::uint32_t n_dims = in.u32(where, "n_dims");
    if (n_dims < 1 || n_dims > 4) {
      throw Error(where, "n_dims " + std::to_string(n_dims) + " is not in 1..4");
    }
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = static_cast<std::int64_t>(in.u64(where, "dimensions"));
      if (dim <= 0) {
        throw Error(where, "dimension ne[" + std::to_string(d) + "] = " + std::to_string(dim) +
                               " is not positive");
      }
      tensor.dims.push_back(dim);
    }
    const std::uint32_t type_id = in.u32(where, "tensor type");
    const TypeInfo* info = type_info(type_id);
    if (info == nullptr) throw Error(where, "unknown tensor type " + std::to_string(type_id));
    if (info->block_bytes == 0) {
      throw Error(where, std::string("unsupported tensor type ") + info->name + " (" +
                             std::to_string(type_id) + ")");
    }
    tensor.type = static_cast<GgmlType>(type_id);
    tensor.offset = in.u64(where, "offset");

    if (tensor.dims[0] % static_cast<std::int64_t>(info->block_size) != 0) {
      throw Error(where, "ne[0] = " + std::to_string(tensor.dims[0]) +
                             " is not a multiple of the block size " +
                             std::to_string(info->block_size) + " of " + info->name);
    }
    std::uint64_t blocks = static_cast<std::uint64_t>(tensor.dims[0]) / info->block_size;
    std::uint64_t nbytes = 0;
    bool overflow = false;
    for (std::uint32_t d = 1; d < n_dims; ++d) {
      overflow |=
          __builtin_mul_overflow(blocks, static_cast<std::uint64_t>(tensor.dims[d]), &blocks);
    }
    overflow |= __builtin_mul_overflow(blocks, std::uint64_t{info->block_bytes}, &nbytes);
    overflow |= nbytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (overflow) throw Error(where, "byte size of the dimensions overflows");
    tensor.nbytes = static_cast<std::size_t>(nbytes);
    tensors_.push_back(std::move(tensor));
  }

  // The data section starts at the first multiple of the alignment after the tensor infos.
  data_offset_ = (in.pos() + alignment_ - 1) / alignment_ * alignment_;
  const std::uint64_t data_size = map_.size() > data_offset_ ? map_.size() - data_offset_ : 0;
  for (GgufTensor& tensor : tensors_) {
    const std::string where = path + ": tensor " + quote(tensor.name);
    if (tensor.offset % alignment_ != 0) {
      throw Error(where, "offset " + std::to_string(tensor.offset) + " is not aligned to " +
                             std::to_string(alignment_) + " bytes");
    }
    if (tensor.offset > data_size || tensor.nbytes > data_size - tensor.offset) {
      throw Error(where, "bytes " + range_text(tensor.offset, tensor.offset + tensor.nbytes) +
                             " run past the end of the data section (" + std::to_string(data_size) +
                             " bytes at file offset " + std::to_string(data_offset_) + ")");
    }
    tensor.data = map_.data() + data_offset_ + tensor.offset;
  }

  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& tensor : tensors_) by_offset.push_back(&tensor);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor& previous = *by_offset[i - 1];
    const GgufTensor& tensor = *by_offset[i];
    if (tensor.offset < previous.offset + previous.nbytes) {
      throw Error(path + ": tensor " + quote(tensor.name),
                  "bytes " + range_text(tensor.offset, tensor.offset + tensor.nbytes) +
                      " overlap tensor " + quote(previous.name) + " " +
                      range_text(previous.offset, previous.offset + previous.nbytes));
    }
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) throw Error(path() + ": key " + quote(key), "missing");
  return *value;
}

std::string_view GgufFile::get_string(std::string_view key) const {
  const GgufValue& value = require(key);
  if (value.type() != GgufType::kString) {
    throw Error(path() + ": key " + quote(key), "is " + type_phrase(value) + ", expected a string");
  }
  return value.string();
}

GgufFile::Integer GgufFile::integer(std::string_view key) const {
  const GgufValue& value = require(key);
  switch (value.type()) {
    case GgufType::kUint8:
      return {value.scalar<std::uint8_t>(), false};
    case GgufType::kUint16:
      return {value.scalar<std::uint16_t>(), false};
    case GgufType::kUint32:
      return {value.scalar<std::uint32_t>(), false};
    case GgufType::kUint64:
      return {value.scalar<std::uint64_t>(), false};
    case GgufType::kInt8:
    case GgufType::kInt16:
    case GgufType::kInt32:
    case GgufType::kInt64: {
      const std::int64_t signed_value =
          value.type() == GgufType::kInt8    ? value.scalar<std::int8_t>()
          : value.type() == GgufType::kInt16 ? value.scalar<std::int16_t>()
          : value.type() == GgufType::kInt32 ? value.scalar<std::int32_t>()
                                             : value.scalar<std::int64_t>();
      return {static_cast<std::uint64_t>(signed_value), signed_value < 0};
    }
    default:
      throw Error(path() + ": key " + quote(key),
                  "is " + type_phrase(value) + ", expected an integer");
  }
}

void GgufFile::integer_out_of_range(std::string_view key, Integer value, bool is_signed,
                                    std::size_t bytes) const {
  const std::string text = value.negative ? std::to_string(static_cast<std::int64_t>(value.bits))
                                          : std::to_string(value.bits);
  throw Error(path() + ": key " + quote(key), "value " + text + " does not fit " +
                                                  (is_signed ? "int" : "uint") +
                                                  std::to_string(8 * bytes));
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& value = require(key);
  if (value.type() == GgufType::kFloat32) return value.scalar<float>();
  if (value.type() == GgufType::kFloat64) return value.scalar<double>();
  throw Error(path() + ": key " + quote(key), "is " + type_phrase(value) + ", expected a float");
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& value = require(key);
  if (value.type() != GgufType::kBool) {
    throw Error(path() + ": key " + quote(key), "is " + type_phrase(value) + ", expected a bool");
  }
  return value.scalar<std::uint8_t>() != 0;
}

const GgufValue& GgufFile::get_array(std::string_view key, GgufType element) const {
  const GgufValue& value = require(key);
  if (value.type() != GgufType::kArray || value.element_type() != element) {
    throw Error(path() + ": key " + quote(key),
                "is " + type_phrase(value) + ", expected an array of " + gguf_type_name(element));
  }
  return value;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace pocket
