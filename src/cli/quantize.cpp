// pocket quantize IN OUT.gguf --type q8_0|q4_0|q4_k|f16|f32: a model (a Hugging Face directory or
// a GGUF file) written as a GGUF file in a block format (model/gguf_export.h, docs/gguf.md), with
// progress on stderr.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/error.h"
#include "model/gguf_export.h"
#include "model/model.h"

namespace pocket {
int cmd_quantize(int argc, char** argv) {
  std::string in, out, type = "q8_0", keep, tokenizer_from;
  std::int64_t threads = 0;
  Args args("pocket quantize IN OUT.gguf [--type q8_0|q4_0|q4_k|f16|f32] [--keep FORMAT]",
            "Writes the model IN (a Hugging Face directory, or a GGUF file) as the GGUF file OUT,\n"
            "with its tokenizer. llama, mistral and qwen2 models give files llama.cpp loads too\n"
            "(its key and tensor names, its q/k row order); opt and roberta models give files\n"
            "in the same style under architectures llama.cpp lacks (docs/gguf.md). Projections\n"
            "take --type; embeddings and an untied head take --keep (default: --type).\n"
            "Norm weights and biases stay F32. A matrix whose rows are not whole blocks falls\n"
            "back to Q8_0 (rows of 32) or F16, as llama.cpp does. Blocks are encoded as llama.cpp's\n"
            "reference quantizers do. The file is written to a temporary name and renamed.\n"
            "Families: llama, mistral, qwen2, opt, roberta.");
  args.positional("IN", &in, "a Hugging Face model directory or a .gguf file");
  args.positional("OUT", &out, "the GGUF file to write");
  args.option("--type", &type, "format of the projections");
  args.option("--keep", &keep, "format of the embeddings and the head (q8_0, f16, ...)");
  args.option("--tokenizer-from", &tokenizer_from,
              "a GGUF file whose tokenizer (tokenizer.ggml.*) to write instead of IN's");
  args.option("--threads", &threads, "threads (0: every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  GgufExportOptions options;
  options.format = parse_export_format("--type", type);
  options.embed_format = keep.empty() ? options.format : parse_export_format("--keep", keep);
  options.tokenizer_from = tokenizer_from;

  const Model model(in);
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  int last_tenth = -1;
  options.progress = [&](std::size_t done, std::size_t total, std::uint64_t bytes) {
    const int tenth = static_cast<int>(done * 10 / total);
    if (!terminal && tenth == last_tenth && done != total) return;
    last_tenth = tenth;
    std::fprintf(stderr, "%squantize: %zu/%zu tensors, %s%s", terminal ? "\r" : "", done, total,
                 human_bytes(bytes).c_str(), terminal && done != total ? "" : "\n");
  };
  const GgufExportReport report = write_model_gguf(model, out, options);
  std::fprintf(stderr, "quantize: wrote %s: %zu tensors, %s (from %s of weights)", out.c_str(),
               report.tensors, human_bytes(report.bytes).c_str(),
               human_bytes(model.weight_file_bytes()).c_str());
  if (report.fallbacks > 0) {
    std::fprintf(stderr, "; %zu matrices in a wider format (rows not whole blocks)",
                 report.fallbacks);
  }
  std::fprintf(stderr, "\n");
  return 0;
}

}  // namespace pocket
