#include "model/gguf_export.h"

#include <cctype>
#include <filesystem>
#include <vector>

#include "io/error.h"
#include "io/gguf.h"
#include "io/gguf_config.h"
#include "io/gguf_writer.h"
#include "io/tokenizer_gguf_keys.h"
#include "kernels/quant_blocks.h"
#include "model/gguf_names.h"

namespace pocket {
namespace {

// llama.cpp's llama_ftype for a file whose projections are `format` (informational: readers
// go by each tensor's own type).
std::uint32_t file_type(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return 0;   // ALL_F32
    case WeightFormat::kF16: return 1;   // MOSTLY_F16
    case WeightFormat::kQ4_0: return 2;  // MOSTLY_Q4_0
    case WeightFormat::kQ8_0: return 7;  // MOSTLY_Q8_0
    case WeightFormat::kQ4_K: return 14; // MOSTLY_Q4_K_S: every projection Q4_K
    case WeightFormat::kQ6_K: return 18; // MOSTLY_Q6_K
  }
  return 0;
}

// The format a row of `cols` values is written in when `want` needs whole blocks.
WeightFormat fitting_format(WeightFormat want, std::int64_t cols) {
  if (cols % weight_block_size(want) == 0) return want;
  if (weight_block_size(want) > 32 && cols % 32 == 0) return WeightFormat::kQ8_0;
  return WeightFormat::kF16;
}

// Source row of row `r` of a q or k weight (or element r of its bias) written in ggml's order:
// within each head of d rows, ggml row 2i + h holds HF row h·d/2 + i (convert_hf_to_gguf.py's
// permute()).
std::int64_t hf_row_of_ggml_row(std::int64_t r, std::int64_t d) {
  const std::int64_t head = r / d, j = r % d;
  return head * d + (j % 2) * (d / 2) + j / 2;
}

struct Job {
  const Param* param;
  GgufTensorSpec spec;
  WeightFormat format;
  std::int64_t permute_head = 0;  // > 0: rows (or elements) permuted into ggml's order, head size
};

}  // namespace

WeightFormat parse_export_format(const std::string& flag, const std::string& text) {
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_K,
                         WeightFormat::kF16, WeightFormat::kF32}) {
    std::string name = weight_format_name(f);  // "Q4_K"
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (text == name) return f;
  }
  throw Error(flag, "'" + text + "' is not one of q8_0, q4_0, q4_k, f16, f32");
}

GgmlType ggml_type_of(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return GgmlType::kF32;
    case WeightFormat::kF16: return GgmlType::kF16;
    case WeightFormat::kQ8_0: return GgmlType::kQ8_0;
    case WeightFormat::kQ4_0: return GgmlType::kQ4_0;
    case WeightFormat::kQ4_K: return GgmlType::kQ4_K;
    case WeightFormat::kQ6_K: return GgmlType::kQ6_K;
  }
  return GgmlType::kF32;
}

GgufExportReport write_model_gguf(const Model& model, const std::string& path,
                                  const GgufExportOptions& options) {
  if (options.format == WeightFormat::kQ6_K || options.embed_format == WeightFormat::kQ6_K) {
    throw Error(path, "Q6_K is read, not written, by pocket");
  }
  const ModelConfig& c = model.config();
  GgufMetadata meta;
  add_config_keys(c, meta);
  meta.add_string("general.name", std::filesystem::path(model.path()).stem().string());
  meta.add_u32("general.file_type", file_type(options.format));
  meta.add_u32("general.quantization_version", 2);
  if (!options.tokenizer_from.empty()) {
    const GgufFile vocab(options.tokenizer_from);
    const GgufValue* tokens = vocab.find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->type() != GgufType::kArray ||
        static_cast<std::int64_t>(tokens->size()) != c.vocab_size) {
      throw Error(options.tokenizer_from,
                  "its tokenizer.ggml.tokens are not the model's " + std::to_string(c.vocab_size) +
                      " tokens");
    }
    copy_tokenizer_keys(vocab, meta);
  } else if (model.gguf() != nullptr) {
    copy_tokenizer_keys(*model.gguf(), meta);
  } else if (options.tokenizer) {
    add_tokenizer_keys(model.path(), c, meta);
  }

  // llama's q/k go to ggml's order unless the source is in it already (a GGUF llama file).
  const bool permute = gguf_architecture(c) == "llama" && !c.rope_interleaved;
  std::vector<Job> jobs;
  GgufExportReport report;
  for (const Param& p : model.params()) {
    Job job{&p, {gguf_tensor_name(c.arch, p.name), GgmlType::kF32, {}}, WeightFormat::kF32};
    if (job.spec.name.empty()) throw Error(model.path(), "tensor '" + p.name + "' has no GGUF name");
    job.spec.dims.assign(p.shape.rbegin(), p.shape.rend());
    if (p.kind != ParamKind::kVector) {
      const bool embed = p.kind == ParamKind::kEmbedding || job.spec.name == "output.weight";
      const WeightFormat want = embed ? options.embed_format : options.format;
      job.format = fitting_format(want, p.view.cols);
      report.fallbacks += job.format != want ? 1 : 0;
    }
    job.spec.type = ggml_type_of(job.format);
    const bool q = p.name.find(".self_attn.q_proj.") != std::string::npos;
    const bool k = p.name.find(".self_attn.k_proj.") != std::string::npos;
    if (permute && (q || k)) job.permute_head = c.head_dim;
    jobs.push_back(std::move(job));
  }
  std::vector<GgufTensorSpec> specs;
  for (const Job& j : jobs) specs.push_back(j.spec);

  std::uint64_t written = 0;
  std::vector<float> row;
  write_gguf(path, meta, specs, [&](std::size_t i, std::uint8_t* dst, std::size_t nbytes) {
    const Job& j = jobs[i];
    const Param& p = *j.param;
    if (p.kind == ParamKind::kVector) {  // F32 from the table's fp32 copy
      auto* out = reinterpret_cast<float*>(dst);
      for (std::int64_t e = 0; e < p.numel; ++e) {
        out[e] = p.f32[j.permute_head > 0 ? hf_row_of_ggml_row(e, j.permute_head) : e];
      }
      // RoBERTa's token types: the forward holds row 0 only (maybe tuned); the other rows, never
      // read, are the source's as they are, so the file keeps the whole table.
      const std::int64_t rows = p.shape.size() == 2 ? p.shape[0] : 1;
      const auto* base = static_cast<const std::uint8_t*>(p.view.data);
      for (std::int64_t r = 1; r < rows; ++r) {
        dequantize_row(p.view.format, base + weight_bytes(p.view.format, r * p.numel),
                       out + r * p.numel, p.numel);
      }
    } else {
      const WeightView& v = p.view;
      row.resize(static_cast<std::size_t>(v.cols));
      const std::int64_t row_bytes = weight_bytes(j.format, v.cols);
      const auto* base = static_cast<const std::uint8_t*>(v.data);
      for (std::int64_t r = 0; r < v.rows; ++r) {
        const std::int64_t src = j.permute_head > 0 ? hf_row_of_ggml_row(r, j.permute_head) : r;
        dequantize_row(v.format, base + weight_bytes(v.format, src * v.stride), row.data(), v.cols);
        quantize_row(j.format, row.data(), dst + r * row_bytes, v.cols);
      }
    }
    written += nbytes;
    if (options.progress) options.progress(i + 1, jobs.size(), written);
  });
  report.tensors = jobs.size();
  report.bytes = std::filesystem::file_size(path);
  return report;
}

}  // namespace pocket
