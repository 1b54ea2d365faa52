#include "io/gguf_writer.h"

#include <cstring>
#include <set>

#include "io/atomic_file.h"
#include "io/error.h"

namespace pocket {
namespace {

template <class T>
void put(std::string& out, T value) {  // little-endian: every target pocket builds for
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

}  // namespace

void GgufMetadata::key(const std::string& k, GgufType type) {
  keys_.push_back(k);
  put_string(bytes_, k);
  put<std::uint32_t>(bytes_, static_cast<std::uint32_t>(type));
}

void GgufMetadata::add_string(const std::string& k, const std::string& value) {
  key(k, GgufType::kString);
  put_string(bytes_, value);
}
void GgufMetadata::add_u32(const std::string& k, std::uint32_t value) {
  key(k, GgufType::kUint32);
  put(bytes_, value);
}
void GgufMetadata::add_i32(const std::string& k, std::int32_t value) {
  key(k, GgufType::kInt32);
  put(bytes_, value);
}
void GgufMetadata::add_u64(const std::string& k, std::uint64_t value) {
  key(k, GgufType::kUint64);
  put(bytes_, value);
}
void GgufMetadata::add_f32(const std::string& k, float value) {
  key(k, GgufType::kFloat32);
  put(bytes_, value);
}
void GgufMetadata::add_bool(const std::string& k, bool value) {
  key(k, GgufType::kBool);
  put<std::uint8_t>(bytes_, value ? 1 : 0);
}
void GgufMetadata::add_string_array(const std::string& k, const std::vector<std::string>& values) {
  key(k, GgufType::kArray);
  put<std::uint32_t>(bytes_, static_cast<std::uint32_t>(GgufType::kString));
  put<std::uint64_t>(bytes_, values.size());
  for (const std::string& v : values) put_string(bytes_, v);
}
void GgufMetadata::add_f32_array(const std::string& k, const std::vector<float>& values) {
  key(k, GgufType::kArray);
  put<std::uint32_t>(bytes_, static_cast<std::uint32_t>(GgufType::kFloat32));
  put<std::uint64_t>(bytes_, values.size());
  for (const float v : values) put(bytes_, v);
}
void GgufMetadata::add_i32_array(const std::string& k, const std::vector<std::int32_t>& values) {
  key(k, GgufType::kArray);
  put<std::uint32_t>(bytes_, static_cast<std::uint32_t>(GgufType::kInt32));
  put<std::uint64_t>(bytes_, values.size());
  for (const std::int32_t v : values) put(bytes_, v);
}

namespace {

// The bytes of element i of a numeric array (or of a scalar) of fixed size `bytes`.
template <class Get>
void put_fixed(std::string& out, std::size_t bytes, Get get) {
  switch (bytes) {
    case 1: put(out, get(std::uint8_t{})); break;
    case 2: put(out, get(std::uint16_t{})); break;
    case 4: put(out, get(std::uint32_t{})); break;
    case 8: put(out, get(std::uint64_t{})); break;
  }
}

}  // namespace

void GgufMetadata::value(const GgufValue& v) {
  if (v.type() == GgufType::kString) {
    put_string(bytes_, std::string(v.string()));
  } else if (v.type() == GgufType::kArray) {
    const GgufType e = v.element_type();
    put<std::uint32_t>(bytes_, static_cast<std::uint32_t>(e));
    put<std::uint64_t>(bytes_, v.size());
    for (std::uint64_t i = 0; i < v.size(); ++i) {
      if (e == GgufType::kString) {
        put_string(bytes_, std::string(v.string_element(i)));
      } else if (e == GgufType::kArray) {
        value(v.array_element(i));  // the nested array's element type, count and elements
      } else {
        put_fixed(bytes_, GgufValue::fixed_size(e), [&](auto t) { return v.element<decltype(t)>(i); });
      }
    }
  } else {
    put_fixed(bytes_, GgufValue::fixed_size(v.type()), [&](auto t) { return v.scalar<decltype(t)>(); });
  }
}

void GgufMetadata::add_copy(const std::string& k, const GgufValue& v) {
  key(k, v.type());
  value(v);
}

std::size_t gguf_tensor_bytes(const GgufTensorSpec& spec) {
  std::size_t rows = 1;
  for (std::size_t i = 1; i < spec.dims.size(); ++i) rows *= static_cast<std::size_t>(spec.dims[i]);
  const auto row = static_cast<std::size_t>(spec.dims.empty() ? 0 : spec.dims[0]);
  return rows * (row / ggml_block_size(spec.type)) * ggml_block_bytes(spec.type);
}

void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorSpec>& tensors,
                const std::function<void(std::size_t, std::uint8_t*, std::size_t)>& fill,
                std::uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error(path, "alignment " + std::to_string(alignment) + " is not a power of two");
  }
  std::set<std::string> seen;
  for (const std::string& k : metadata.keys()) {
    if (!seen.insert(k).second) throw Error(path, "key '" + k + "' added twice");
  }
  GgufMetadata extra;  // general.alignment, when it is not the default
  if (alignment != kGgufDefaultAlignment && !seen.count("general.alignment")) {
    extra.add_u32("general.alignment", alignment);
  }
  std::string header = "GGUF";
  put<std::uint32_t>(header, 3);
  put<std::uint64_t>(header, tensors.size());
  put<std::uint64_t>(header, metadata.size() + extra.size());
  header += metadata.encoded();
  header += extra.encoded();
  std::set<std::string> names;
  std::vector<std::size_t> offsets, sizes;
  std::size_t data = 0;
  for (const GgufTensorSpec& t : tensors) {
    const std::string where = path + ": tensor '" + t.name + "'";
    if (!names.insert(t.name).second) throw Error(where, "written twice");
    if (t.dims.empty() || t.dims.size() > 4) throw Error(where, "must have 1 to 4 dimensions");
    for (const std::int64_t d : t.dims) {
      if (d <= 0) throw Error(where, "has a dimension <= 0");
    }
    if (t.dims[0] % static_cast<std::int64_t>(ggml_block_size(t.type)) != 0) {
      throw Error(where, "ne[0] is not a multiple of the block size of " +
                             std::string(ggml_type_name(t.type)));
    }
    put_string(header, t.name);
    put<std::uint32_t>(header, static_cast<std::uint32_t>(t.dims.size()));
    for (const std::int64_t d : t.dims) put<std::uint64_t>(header, static_cast<std::uint64_t>(d));
    put<std::uint32_t>(header, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(header, data);
    offsets.push_back(data);
    sizes.push_back(gguf_tensor_bytes(t));
    data = align_up(data + sizes.back(), alignment);
  }
  const std::size_t data_start = align_up(header.size(), alignment);
  write_file_atomic_mapped(path, data_start + data, [&](std::uint8_t* out, std::size_t) {
    std::memcpy(out, header.data(), header.size());  // the mapping is zero-filled: padding is 0
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      fill(i, out + data_start + offsets[i], sizes[i]);
    }
  });
}

}  // namespace pocket
