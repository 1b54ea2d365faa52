#include "io/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "kernels/fp16.h"
#include "kernels/thread_pool.h"

namespace pocket {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunkElems = std::size_t{1} << 16;  // elements per conversion task
constexpr std::size_t kChunkBytes = std::size_t{1} << 22;  // bytes per copy task

enum class FileKind { kCopy, kCheckpoint, kTorchWeights, kHidden };

FileKind classify(const std::string& name) {
  if (name.starts_with(".")) return FileKind::kHidden;
  if (name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json")) {
    return FileKind::kCheckpoint;
  }
  if (name.ends_with(".bin") || name.ends_with(".pt") || name.ends_with(".pth") ||
      name.ends_with(".bin.index.json")) {
    return FileKind::kTorchWeights;
  }
  return FileKind::kCopy;
}

bool narrows_to_f16(Dtype dtype) { return dtype == Dtype::kF32 || dtype == Dtype::kBF16; }

// wide[0, count) = tensor elements [begin, begin + count) as fp32. Read with memcpy: an F32
// tensor of a valid file may sit at any byte offset. BF16 is the top half of an fp32, so
// widening it is a shift (exact).
void widen(const TensorView& tensor, std::size_t begin, std::size_t count, float* wide) {
  if (tensor.dtype == Dtype::kF32) {
    std::memcpy(wide, tensor.data + begin * 4, count * 4);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, tensor.data + (begin + i) * 2, 2);
    wide[i] = f32_from_bits(static_cast<std::uint32_t>(bits) << 16);
  }
}

// out[i] = fp16(x[i]), x the F32 or BF16 tensor, rounded to nearest even; split over the pool in
// chunks. Throws for the first finite x[i] whose fp16 is ±inf (|x| >= 65520).
//
// Each task then drops its input pages from this process (kDontNeed; they stay in the page cache):
// this process never reads them again, and the resident set stays near the output plus a few
// chunks however large one tensor is.
void narrow_tensor(const TensorView& tensor, const MappedFile& mapping, fp16* out,
                   ThreadPool& pool) {
  const auto file_offset = static_cast<std::size_t>(tensor.data - mapping.data());
  const std::size_t elem_size = dtype_size(tensor.dtype);
  const std::size_t n = tensor.nbytes / elem_size;
  const auto n_tasks = static_cast<std::int64_t>((n + kChunkElems - 1) / kChunkElems);
  std::vector<std::int64_t> first_overflow(n_tasks, -1);
  pool.run(n_tasks, [&](std::int64_t task, int worker) {
    const std::size_t begin = static_cast<std::size_t>(task) * kChunkElems;
    const std::size_t count = std::min(kChunkElems, n - begin);
    float* wide = static_cast<float*>(pool.scratch(worker));
    widen(tensor, begin, count, wide);
    f32_to_f16(wide, out + begin, count);
    for (std::size_t i = 0; i < count; ++i) {
      if ((out[begin + i] & 0x7FFFu) == 0x7C00u && !std::isinf(wide[i])) {
        first_overflow[task] = static_cast<std::int64_t>(begin + i);
        break;
      }
    }
    mapping.advise(MapAdvice::kDontNeed, file_offset + begin * elem_size, count * elem_size);
  });
  for (const std::int64_t index : first_overflow) {
    if (index < 0) continue;
    float value;
    widen(tensor, static_cast<std::size_t>(index), 1, &value);
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
    throw Error(tensor.file + ": tensor '" + tensor.name + "'",
                std::string("value ") + text + " at element " + std::to_string(index) +
                    " is beyond the fp16 range (max 65504): as F16 it would be inf");
  }
}

// out = the tensor's bytes, in chunks over the pool, input pages dropped as in narrow_tensor.
void copy_tensor(const TensorView& tensor, const MappedFile& mapping, std::uint8_t* out,
                 ThreadPool& pool) {
  const auto file_offset = static_cast<std::size_t>(tensor.data - mapping.data());
  const auto n_tasks = static_cast<std::int64_t>((tensor.nbytes + kChunkBytes - 1) / kChunkBytes);
  pool.run(n_tasks, [&](std::int64_t task, int) {
    const std::size_t begin = static_cast<std::size_t>(task) * kChunkBytes;
    const std::size_t count = std::min(kChunkBytes, tensor.nbytes - begin);
    std::memcpy(out + begin, tensor.data + begin, count);
    mapping.advise(MapAdvice::kDontNeed, file_offset + begin, count);
  });
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  const MappedFile source(from);
  source.advise(MapAdvice::kSequential);
  write_file_atomic_mapped(to, source.size(), [&](std::uint8_t* data, std::size_t size) {
    if (size > 0) std::memcpy(data, source.data(), size);
  });
}

}  // namespace

ConvertReport convert_checkpoint(const std::string& in_dir, const std::string& out_dir,
                                 const ConvertOptions& options) {
  std::error_code error;
  if (fs::exists(out_dir, error) && fs::equivalent(in_dir, out_dir, error)) {
    throw Error(out_dir, "is the input directory: convert writes a new directory, never its input");
  }
  const Checkpoint checkpoint(in_dir);  // validates every input file before anything is written

  fs::create_directories(out_dir, error);
  if (error || !fs::is_directory(out_dir)) {
    throw Error(out_dir, "cannot create the output directory" +
                             (error ? ": " + error.message() : std::string()));
  }
  if (fs::exists(fs::path(out_dir) / "model.safetensors.index.json", error)) {
    throw Error(out_dir,
                "holds a model.safetensors.index.json, which would shadow the converted "
                "model.safetensors: remove it or choose another directory");
  }

  ConvertReport report;
  report.output = (fs::path(out_dir) / "model.safetensors").string();

  // The tensors in input order, each with the mapping it lives in; metadata merged, first wins.
  std::vector<const TensorView*> tensors;
  std::vector<const MappedFile*> mapping_of;
  std::vector<TensorSpec> specs;
  std::map<std::string, std::string> metadata;
  std::uint64_t bytes_total = 0;
  for (const auto& file : checkpoint.files()) {
    file->mapping().advise(MapAdvice::kSequential);
    metadata.insert(file->metadata().begin(), file->metadata().end());
    for (const TensorView& tensor : file->tensors()) {
      tensors.push_back(&tensor);
      mapping_of.push_back(&file->mapping());
      const Dtype dtype = narrows_to_f16(tensor.dtype) ? Dtype::kF16 : tensor.dtype;
      specs.push_back({tensor.name, dtype, tensor.shape});
      bytes_total += tensor.nbytes;
    }
  }
  metadata.emplace("format", "pt");  // what transformers writes and expects

  ThreadPool pool(options.threads > 0 ? options.threads : hardware_threads());
  pool.reserve_scratch(kChunkElems * sizeof(float));
  std::uint64_t bytes_done = 0;
  write_safetensors(report.output, specs, metadata,
                    [&](std::size_t i, std::uint8_t* dst, std::size_t nbytes) {
                      const TensorView& tensor = *tensors[i];
                      if (nbytes > 0) {
                        if (narrows_to_f16(tensor.dtype)) {
                          narrow_tensor(tensor, *mapping_of[i], reinterpret_cast<fp16*>(dst), pool);
                          ++report.converted;
                        } else {
                          copy_tensor(tensor, *mapping_of[i], dst, pool);
                        }
                      }
                      ++report.tensors;
                      report.bytes_out += nbytes;
                      bytes_done += tensor.nbytes;
                      if (options.progress)
                        options.progress(report.tensors, specs.size(), bytes_done, bytes_total);
                    });
  report.bytes_in = bytes_total;

  std::vector<fs::directory_entry> entries(fs::directory_iterator(in_dir), {});
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const fs::directory_entry& entry : entries) {
    const std::string name = entry.path().filename().string();
    const std::string from = entry.path().string();
    switch (classify(name)) {
      case FileKind::kHidden:
      case FileKind::kCheckpoint:
        break;
      case FileKind::kTorchWeights:
        if (options.warn) {
          options.warn(from +
                       ": pytorch weights are not read and not copied; pocket reads "
                       "safetensors only (convert with Hugging Face first: "
                       "save_pretrained(..., safe_serialization=True))");
        }
        break;
      case FileKind::kCopy:
        if (entry.is_regular_file(error)) {
          copy_file_atomic(from, (fs::path(out_dir) / name).string());
          report.copied.push_back(name);
        } else if (options.warn) {
          options.warn(from + ": not a regular file, not copied");
        }
        break;
    }
  }
  return report;
}

}  // namespace pocket
