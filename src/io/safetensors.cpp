#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/json_parse.h"

namespace pocket {

namespace {

using json = nlohmann::json;

// A name as messages show it: quoted, with control characters escaped so that an error stays on
// one line whatever a header contains.
std::string quote_name(const std::string& name) {
  std::string out = "'";
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}

std::string tensor_where(const std::string& file, const std::string& name) {
  return file + ": tensor " + quote_name(name);
}

std::string range_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// JSON text parsed with every object's keys checked for duplicates (nlohmann keeps the last one
// silently; a header whose meaning depends on that is broken). `what` names the text in messages
// ("header", "index").
struct StrictJson {
  json value;
  bool has_duplicate = false;
  std::string duplicate_key;      // the first key seen twice in one object
  bool duplicate_at_top = false;  // ... and that object is the top-level one
};

StrictJson parse_strict_json(const char* begin, const char* end, const std::string& where,
                             const std::string& what) {
  StrictJson result;
  std::vector<std::set<std::string>> open_objects;
  const json::parser_callback_t check_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !result.has_duplicate) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second) {
        result.has_duplicate = true;
        result.duplicate_key = parsed.get<std::string>();
        result.duplicate_at_top = open_objects.size() == 1;
      }
    }
    return true;
  };
  result.value = parse_json(std::string_view(begin, static_cast<std::size_t>(end - begin)),
                            where + ": " + what, check_keys);
  if (!result.value.is_object()) {
    throw Error(where, what + " is not a JSON object (it is " +
                           std::string(result.value.type_name()) + ")");
  }
  return result;
}

// A JSON number that is a non-negative integer (nlohmann reads "-0" as a signed integer).
bool non_negative_integer(const json& value, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(value.get<std::int64_t>());
    return true;
  }
  return false;
}

// Bytes of a tensor; false when the product does not fit 64 bits. Any zero dimension makes the
// tensor empty, whatever the other dimensions are.
bool tensor_bytes(const std::vector<std::int64_t>& shape, std::size_t elem_size,
                  std::uint64_t& bytes) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    bytes = 0;
    return true;
  }
  std::uint64_t product = elem_size;
  for (const std::int64_t dim : shape) {
    if (__builtin_mul_overflow(product, static_cast<std::uint64_t>(dim), &product)) return false;
  }
  bytes = product;
  return product <= std::numeric_limits<std::size_t>::max();
}

struct Entry {
  TensorView view;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// One header entry, checked against the buffer [buffer, buffer + buffer_size) at file offset
// buffer_offset.
Entry parse_entry(const std::string& path, const std::string& name, const json& value,
                  const std::uint8_t* buffer, std::uint64_t buffer_size,
                  std::uint64_t buffer_offset) {
  const std::string where = tensor_where(path, name);
  if (!value.is_object()) {
    throw Error(where, "entry is not an object (it is " + std::string(value.type_name()) + ")");
  }
  Entry entry;
  TensorView& view = entry.view;
  view.name = name;
  view.file = path;

  const auto dtype = value.find("dtype");
  if (dtype == value.end()) throw Error(where, "missing dtype");
  if (!dtype->is_string()) throw Error(where, "dtype is not a string");
  view.dtype = parse_dtype(dtype->get<std::string>(), where);

  const auto shape = value.find("shape");
  if (shape == value.end()) throw Error(where, "missing shape");
  if (!shape->is_array()) throw Error(where, "shape is not an array of non-negative integers");
  for (const json& dim : *shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned() && dim.get<std::int64_t>() < 0) {
      throw Error(where, "negative dimension " + std::to_string(dim.get<std::int64_t>()) +
                             " in shape " + one_line(shape->dump()));
    }
    std::uint64_t extent = 0;
    if (!non_negative_integer(dim, extent)) {
      throw Error(where,
                  "shape is not an array of non-negative integers: " + one_line(shape->dump()));
    }
    if (extent > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw Error(where, "dimension " + std::to_string(extent) + " too large");
    }
    view.shape.push_back(static_cast<std::int64_t>(extent));
  }

  const auto offsets = value.find("data_offsets");
  if (offsets == value.end()) throw Error(where, "missing data_offsets");
  if (!offsets->is_array() || offsets->size() != 2 ||
      !non_negative_integer((*offsets)[0], entry.begin) ||
      !non_negative_integer((*offsets)[1], entry.end)) {
    throw Error(where, "data_offsets is not two non-negative integers [begin, end]: " +
                           one_line(offsets->dump()));
  }
  if (entry.begin > entry.end) {
    throw Error(where, "data_offsets " + range_text(entry.begin, entry.end) + ": begin > end");
  }
  if (entry.end > buffer_size) {
    throw Error(where, "data_offsets " + range_text(entry.begin, entry.end) +
                           " outside the data buffer (" + std::to_string(buffer_size) + " bytes)");
  }

  std::uint64_t nbytes = 0;
  if (!tensor_bytes(view.shape, dtype_size(view.dtype), nbytes)) {
    throw Error(where, "shape " + shape_text(view.shape) + " x " +
                           std::to_string(dtype_size(view.dtype)) + " bytes overflows");
  }
  if (nbytes != entry.end - entry.begin) {
    throw Error(where, "shape " + shape_text(view.shape) + " x " +
                           std::to_string(dtype_size(view.dtype)) + " bytes (" +
                           dtype_name(view.dtype) + ") = " + std::to_string(nbytes) +
                           " bytes but data_offsets " + range_text(entry.begin, entry.end) +
                           " span " + std::to_string(entry.end - entry.begin));
  }
  // F16/BF16 tensors are used in place as uint16_t arrays. The mapping is page-aligned, so the
  // file offset's alignment is the address's.
  if ((view.dtype == Dtype::kF16 || view.dtype == Dtype::kBF16) &&
      (buffer_offset + entry.begin) % 2 != 0) {
    throw Error(where, std::string(dtype_name(view.dtype)) + " data at file offset " +
                           std::to_string(buffer_offset + entry.begin) + " is not 2-byte aligned");
  }
  view.data = buffer + entry.begin;
  view.nbytes = static_cast<std::size_t>(nbytes);
  return entry;
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

Dtype parse_dtype(const std::string& name, const std::string& where) {
  static const std::pair<const char*, Dtype> kNames[] = {
      {"F64", Dtype::kF64}, {"F32", Dtype::kF32},  {"F16", Dtype::kF16}, {"BF16", Dtype::kBF16},
      {"I64", Dtype::kI64}, {"I32", Dtype::kI32},  {"I16", Dtype::kI16}, {"I8", Dtype::kI8},
      {"U8", Dtype::kU8},   {"BOOL", Dtype::kBool}};
  for (const auto& [text, dtype] : kNames) {
    if (name == text) return dtype;
  }
  throw Error(where, "unknown dtype " + quote_name(name));
}

const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF64:
      return "F64";
    case Dtype::kF32:
      return "F32";
    case Dtype::kF16:
      return "F16";
    case Dtype::kBF16:
      return "BF16";
    case Dtype::kI64:
      return "I64";
    case Dtype::kI32:
      return "I32";
    case Dtype::kI16:
      return "I16";
    case Dtype::kI8:
      return "I8";
    case Dtype::kU8:
      return "U8";
    case Dtype::kBool:
      return "BOOL";
  }
  return "?";
}

std::size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF64:
    case Dtype::kI64:
      return 8;
    case Dtype::kF32:
    case Dtype::kI32:
      return 4;
    case Dtype::kF16:
    case Dtype::kBF16:
    case Dtype::kI16:
      return 2;
    case Dtype::kI8:
    case Dtype::kU8:
    case Dtype::kBool:
      return 1;
  }
  return 1;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t dim : shape) n *= dim;
  return n;
}

// Reading never touches the tensors' pages: only the header is read here, and how the weights
// are paged in (madvise) is the caller's choice.
SafetensorsFile::SafetensorsFile(const std::string& path, MapMode mode) : map_(path, mode) {
  const std::uint8_t* file = map_.data();
  const std::size_t file_size = map_.size();
  if (file_size < 8) {
    throw Error(path, "file is " + std::to_string(file_size) +
                          " bytes, shorter than the 8-byte header length (truncated?)");
  }
  std::uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<std::uint64_t>(file[i]) << (8 * i);
  if (header_size > kMaxSafetensorsHeader) {
    throw Error(path, "header length " + std::to_string(header_size) + " exceeds the cap of " +
                          std::to_string(kMaxSafetensorsHeader) + " bytes");
  }
  if (header_size > file_size - 8) {
    throw Error(path, "header length " + std::to_string(header_size) +
                          " runs past the end of the file (" + std::to_string(file_size) +
                          " bytes)");
  }
  const std::uint64_t buffer_offset = 8 + header_size;
  const std::uint8_t* buffer = file + buffer_offset;
  const std::uint64_t buffer_size = file_size - buffer_offset;

  const char* text = reinterpret_cast<const char*>(file + 8);
  StrictJson header = parse_strict_json(text, text + header_size, path, "header");
  if (header.has_duplicate) {
    if (header.duplicate_at_top) {
      throw Error(tensor_where(path, header.duplicate_key), "appears twice in the header");
    }
    throw Error(path, "duplicate key " + quote_name(header.duplicate_key) + " in the header");
  }

  std::vector<Entry> entries;
  for (const auto& [name, value] : header.value.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw Error(path, "__metadata__ is not an object");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          throw Error(path, "__metadata__ value of " + quote_name(key) +
                                " is not a string (it is " + std::string(text_value.type_name()) +
                                ")");
        }
        metadata_[key] = text_value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, value, buffer, buffer_size, buffer_offset));
  }

  // The tensors must tile the buffer: sorted by range, each starts where the previous ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    const std::string where = tensor_where(path, entry.view.name);
    if (entry.begin < covered) {
      const Entry& previous = entries[i - 1];
      throw Error(where, "data_offsets " + range_text(entry.begin, entry.end) + " overlap tensor " +
                             quote_name(previous.view.name) + " " +
                             range_text(previous.begin, previous.end));
    }
    if (entry.begin > covered) {
      throw Error(where, "hole in the data buffer: bytes " + range_text(covered, entry.begin) +
                             " before this tensor belong to no tensor");
    }
    covered = entry.end;
  }
  if (covered != buffer_size) {
    throw Error(path, std::to_string(buffer_size - covered) +
                          " trailing bytes after the last tensor (tensors end at " +
                          std::to_string(covered) + ", data buffer is " +
                          std::to_string(buffer_size) + " bytes)");
  }

  tensors_.reserve(entries.size());
  for (Entry& entry : entries) {
    index_[entry.view.name] = tensors_.size();
    tensors_.push_back(std::move(entry.view));
  }
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Checkpoint::Checkpoint(const std::string& dir, MapMode mode) : dir_(dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw Error(dir, fs::exists(dir, error) ? "not a directory" : "no such directory");
  }
  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  const std::string single_path = join_path(dir, "model.safetensors");

  if (!fs::exists(index_path, error)) {
    if (!fs::exists(single_path, error)) {
      throw Error(dir,
                  "no model.safetensors or model.safetensors.index.json: not a checkpoint "
                  "directory (pytorch .bin weights must be converted to safetensors first)");
    }
    files_.push_back(std::make_unique<SafetensorsFile>(single_path, mode));
    for (const TensorView& tensor : files_.back()->tensors()) by_name_[tensor.name] = &tensor;
    return;
  }

  // Sharded: {"weight_map": {"<tensor>": "<shard file>", ...}, "metadata": {...}}.
  const MappedFile index_file(index_path);
  const char* text = reinterpret_cast<const char*>(index_file.data());
  StrictJson index = parse_strict_json(text, text + index_file.size(), index_path, "index");
  if (index.has_duplicate) {
    throw Error(index_path, "duplicate key " + quote_name(index.duplicate_key));
  }
  const auto weight_map = index.value.find("weight_map");
  if (weight_map == index.value.end() || !weight_map->is_object()) {
    throw Error(index_path, "no \"weight_map\" object");
  }
  std::map<std::string, std::string> shard_of;     // tensor -> shard file name
  std::map<std::string, std::size_t> shard_index;  // shard file name -> position in files_
  for (const auto& [name, shard] : weight_map->items()) {
    const std::string where = tensor_where(index_path, name);
    if (!shard.is_string()) throw Error(where, "shard name is not a string");
    const std::string file = shard.get<std::string>();
    // Only files of this directory: the index must not point anywhere else on the disk.
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos) {
      throw Error(where, "shard " + quote_name(file) + " is not a file name in the directory");
    }
    shard_of[name] = file;
    shard_index.emplace(file, 0);
  }
  for (auto& [file, position] : shard_index) {
    const std::string shard_path = join_path(dir, file);
    if (!fs::exists(shard_path, error)) {
      throw Error(index_path, "shard " + quote_name(file) + " does not exist in " + dir);
    }
    position = files_.size();
    files_.push_back(std::make_unique<SafetensorsFile>(shard_path, mode));
  }

  for (const auto& file : files_) {
    for (const TensorView& tensor : file->tensors()) {
      const auto [it, inserted] = by_name_.emplace(tensor.name, &tensor);
      if (!inserted) {
        throw Error(
            tensor_where(dir, tensor.name),
            "in two shards, " + quote_name(it->second->file) + " and " + quote_name(tensor.file));
      }
    }
  }
  for (const auto& [name, file] : shard_of) {
    const SafetensorsFile& shard = *files_[shard_index.at(file)];
    if (shard.find(name) == nullptr) {
      const auto elsewhere = by_name_.find(name);
      throw Error(tensor_where(index_path, name),
                  "not found in its shard " + quote_name(file) +
                      (elsewhere == by_name_.end()
                           ? std::string(" (nor in any other)")
                           : " (it is in " + quote_name(elsewhere->second->file) + ")"));
    }
  }
  for (const auto& [name, tensor] : by_name_) {
    if (shard_of.find(name) == shard_of.end()) {
      throw Error(tensor_where(tensor->file, name), "not listed in model.safetensors.index.json");
    }
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::require(const std::string& name, Dtype dtype,
                                      const std::vector<std::int64_t>& shape) const {
  const TensorView* tensor = find(name);
  if (tensor == nullptr) {
    const bool single = files_.size() == 1 &&
                        std::filesystem::path(files_[0]->path()).filename() == "model.safetensors";
    throw Error(dir_, "tensor " + quote_name(name) + " missing (" +
                          (single ? "not in model.safetensors" : "not in any shard") + ")");
  }
  const std::string where = tensor_where(tensor->file, name);
  if (tensor->dtype != dtype) {
    throw Error(where, std::string("dtype ") + dtype_name(tensor->dtype) + " expected " +
                           dtype_name(dtype));
  }
  if (tensor->shape != shape) {
    throw Error(where, "shape " + shape_text(tensor->shape) + " expected " + shape_text(shape));
  }
  return *tensor;
}

std::vector<const TensorView*> Checkpoint::all() const {
  std::vector<const TensorView*> out;
  out.reserve(by_name_.size());
  for (const auto& file : files_) {
    for (const TensorView& tensor : file->tensors()) out.push_back(&tensor);
  }
  return out;
}

std::uint8_t* SafetensorsFile::mutable_data(const TensorView& tensor) {
  return map_.mutable_data() + (tensor.data - map_.data());
}

std::uint8_t* Checkpoint::mutable_data(const std::string& name) {
  for (auto& file : files_) {
    if (const TensorView* t = file->find(name)) return file->mutable_data(*t);
  }
  throw Error(dir_, "no tensor " + quote_name(name));
}

void Checkpoint::sync() {
  for (auto& file : files_) file->mapping().sync();
}

std::uint64_t Checkpoint::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& file : files_) {
    for (const TensorView& tensor : file->tensors()) total += tensor.nbytes;
  }
  return total;
}

// Layout: [u64 N][header, space-padded so that 8 + N is a multiple of 64][buffer]. Tensors whose
// size is a multiple of 64 come first, so each starts on a 64-byte boundary; the rest follow,
// largest element size first, so every tensor is at least aligned to its element size (an odd
// U8 vector never pushes an F16 tensor onto an odd address).
void write_safetensors(
    const std::string& path, const std::vector<TensorSpec>& specs,
    const std::map<std::string, std::string>& metadata,
    const std::function<void(std::size_t index, std::uint8_t* dst, std::size_t nbytes)>& fill) {
  std::vector<std::uint64_t> nbytes(specs.size());
  std::set<std::string> names;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    const std::string where = tensor_where(path, spec.name);
    if (spec.name == "__metadata__") throw Error(where, "reserved name");
    if (!names.insert(spec.name).second) throw Error(where, "given twice");
    for (const std::int64_t dim : spec.shape) {
      if (dim < 0) throw Error(where, "negative dimension in shape " + shape_text(spec.shape));
    }
    if (!tensor_bytes(spec.shape, dtype_size(spec.dtype), nbytes[i])) {
      throw Error(where, "shape " + shape_text(spec.shape) + " overflows");
    }
  }

  std::vector<std::size_t> order(specs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto unaligned = std::stable_partition(order.begin(), order.end(),
                                               [&](std::size_t i) { return nbytes[i] % 64 == 0; });
  std::stable_sort(unaligned, order.end(), [&](std::size_t a, std::size_t b) {
    return dtype_size(specs[a].dtype) > dtype_size(specs[b].dtype);
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<std::uint64_t> begin(specs.size());
  std::uint64_t buffer_size = 0;
  for (const std::size_t i : order) {
    begin[i] = buffer_size;
    buffer_size += nbytes[i];
    header[specs[i].name] = {{"dtype", dtype_name(specs[i].dtype)},
                             {"shape", specs[i].shape},
                             {"data_offsets", {begin[i], buffer_size}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, "cannot write the header: " + one_line(e.what()));  // e.g. invalid UTF-8
  }
  text.append((64 - (8 + text.size()) % 64) % 64, ' ');

  const std::uint64_t buffer_offset = 8 + text.size();
  write_file_atomic_mapped(path, buffer_offset + buffer_size, [&](std::uint8_t* data, std::size_t) {
    for (int b = 0; b < 8; ++b) {
      data[b] = static_cast<std::uint8_t>(text.size() >> (8 * b));
    }
    std::memcpy(data + 8, text.data(), text.size());
    for (const std::size_t i : order) {
      fill(i, data + buffer_offset + begin[i], nbytes[i]);
    }
  });
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

}  // namespace pocket
