#include "side/side_file.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "io/error.h"
#include "io/safetensors.h"

namespace pocket {
namespace {

// Bounds on the metadata's sizes, far above any real model (hidden 8192, 128 layers), so that
// the sizes computed from them cannot overflow.
constexpr std::int64_t kMaxSideDim = std::int64_t{1} << 20;
constexpr std::int64_t kMaxSideLayers = 4096;

std::string float_text(float x) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof buf, x);  // shortest exact round trip
  return std::string(buf, result.ptr);
}

const std::string& meta_value(const std::string& path,
                              const std::map<std::string, std::string>& metadata,
                              const std::string& key) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw Error(path, "metadata has no '" + key + "'");
  return it->second;
}

std::int64_t meta_int(const std::string& path, const std::map<std::string, std::string>& metadata,
                      const std::string& key, std::int64_t max) {
  const std::string& text = meta_value(path, metadata, key);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    throw Error(path, "metadata '" + key + "' is '" + text + "', not an integer in [1, " +
                          std::to_string(max) + "]");
  }
  return value;
}

}  // namespace

void write_side_file(const std::string& path, const SideShape& shape,
                     const std::vector<SideTensorGroup>& groups,
                     const std::map<std::string, std::string>& metadata) {
  const std::vector<SideTensor> tensors = side_tensors(shape);
  std::vector<TensorSpec> specs;
  std::vector<const float*> sources;
  for (const SideTensorGroup& g : groups) {
    for (const SideTensor& t : tensors) {
      specs.push_back({g.prefix + t.name, Dtype::kF32, t.shape});
      sources.push_back(g.data + t.offset);
    }
  }
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "pocket-side";
  meta["side.hidden"] = std::to_string(shape.hidden);
  meta["side.layers"] = std::to_string(shape.layers);
  meta["side.width"] = std::to_string(shape.width);
  meta["side.mlp"] = std::to_string(shape.mlp);
  meta["side.temperature"] = float_text(shape.temperature);
  write_safetensors(path, specs, meta, [&](std::size_t i, std::uint8_t* dst, std::size_t nbytes) {
    std::memcpy(dst, sources[i], nbytes);
  });
}

SideFile read_side_file(const std::string& path, const std::vector<std::string>& prefixes) {
  const SafetensorsFile file(path);
  SideFile out;
  out.metadata = file.metadata();
  const std::map<std::string, std::string>& meta = out.metadata;
  const std::string& format = meta_value(path, meta, "format");
  if (format != "pocket-side") {
    throw Error(path, "metadata format is '" + format + "', not a pocket side network");
  }
  SideShape& shape = out.shape;
  shape.hidden = meta_int(path, meta, "side.hidden", kMaxSideDim);
  shape.layers = meta_int(path, meta, "side.layers", kMaxSideLayers);
  shape.width = meta_int(path, meta, "side.width", kMaxSideDim);
  shape.mlp = meta_int(path, meta, "side.mlp", kMaxSideDim);
  const std::string& temperature = meta_value(path, meta, "side.temperature");
  const auto [end, ec] = std::from_chars(
      temperature.data(), temperature.data() + temperature.size(), shape.temperature);
  if (ec != std::errc() || end != temperature.data() + temperature.size() ||
      !std::isfinite(shape.temperature) || !(shape.temperature > 0.0f)) {
    throw Error(path,
                "metadata 'side.temperature' is '" + temperature + "', not a positive number");
  }
  const std::vector<SideTensor> tensors = side_tensors(shape);
  const std::int64_t count = side_param_count(shape);
  for (const std::string& prefix : prefixes) {
    std::vector<float> flat(static_cast<std::size_t>(count));
    for (const SideTensor& t : tensors) {
      const std::string name = prefix + t.name;
      const TensorView* view = file.find(name);
      if (view == nullptr) throw Error(path, "tensor '" + name + "' is missing");
      if (view->dtype != Dtype::kF32) {
        throw Error(path, "tensor '" + name + "' is " + dtype_name(view->dtype) + ", not F32");
      }
      if (view->shape != t.shape) {
        throw Error(path, "tensor '" + name + "' has shape " + shape_text(view->shape) +
                              ", the metadata implies " + shape_text(t.shape));
      }
      float* dst = flat.data() + t.offset;
      std::memcpy(dst, view->data, view->nbytes);
      for (std::int64_t i = 0; i < t.numel; ++i) {
        if (!std::isfinite(dst[i])) {
          throw Error(path, "tensor '" + name + "' holds a non-finite value at element " +
                                std::to_string(i));
        }
      }
    }
    out.groups[prefix] = std::move(flat);
  }
  return out;
}

}  // namespace pocket
