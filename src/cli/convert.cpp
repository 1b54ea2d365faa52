// pocket convert IN_DIR OUT_DIR [--threads N]: the command line of convert_checkpoint
// (src/io/convert.h), with progress on stderr.
#include "io/convert.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/error.h"
#include "kernels/thread_pool.h"

namespace pocket {

namespace {

void print_convert_help() {
  std::printf(
      "usage: pocket convert IN_DIR OUT_DIR [--threads N]\n"
      "\n"
      "Converts a Hugging Face model directory into the one pocket runs from: every F32, BF16 and\n"
      "F16 tensor of model.safetensors (or of the shards of model.safetensors.index.json) becomes\n"
      "F16, rounded to nearest even, in a single OUT_DIR/model.safetensors whose tensors start on\n"
      "64-byte boundaries; tensors of other dtypes (I64, ...) are copied as they are. A value\n"
      "beyond the fp16 range (|x| > 65504) is an error, never a silent inf. config.json, the\n"
      "tokenizer files and the other files of IN_DIR are copied; pytorch weights (*.bin, *.pt)\n"
      "are not read: convert them to safetensors with Hugging Face first.\n"
      "\n"
      "options:\n"
      "  --threads N   threads for the conversion (default: %d, every hardware thread)\n"
      "  -h, --help    this text\n",
      hardware_threads());
}

int parse_threads(const std::string& text) {
  std::size_t used = 0;
  int threads = 0;
  try {
    threads = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || threads < 1) {
    throw Error("--threads", "'" + text + "' is not a positive integer");
  }
  return threads;
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  std::vector<std::string> positional;
  ConvertOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      print_convert_help();
      return 0;
    }
    if (arg == "--threads") {
      if (i + 1 >= argc) throw Error("--threads", "needs a value");
      options.threads = parse_threads(argv[++i]);
    } else if (arg.starts_with("--threads=")) {
      options.threads = parse_threads(arg.substr(10));
    } else if (arg.starts_with("-") && arg != "-") {
      throw Error(arg, "unknown option (see pocket convert --help)");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    throw Error("convert", "needs IN_DIR and OUT_DIR (see pocket convert --help)");
  }

  // On a terminal one line redrawn in place; in a log a line per tenth of the bytes.
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  int last_tenth = -1;
  options.progress = [&](std::size_t done, std::size_t total, std::uint64_t bytes_done,
                         std::uint64_t bytes_total) {
    const int tenth = bytes_total == 0 ? 10 : static_cast<int>(bytes_done * 10 / bytes_total);
    if (!terminal && tenth == last_tenth && done != total) return;
    last_tenth = tenth;
    std::fprintf(stderr, "%sconvert: %zu/%zu tensors, %s of %s%s", terminal ? "\r" : "", done,
                 total, human_bytes(bytes_done).c_str(), human_bytes(bytes_total).c_str(),
                 terminal && done != total ? "" : "\n");
  };
  options.warn = [](const std::string& line) {
    std::fprintf(stderr, "warning: %s\n", line.c_str());
  };

  const ConvertReport report = convert_checkpoint(positional[0], positional[1], options);
  std::fprintf(
      stderr,
      "convert: wrote %s: %zu tensors (%zu converted to F16), %s; other files copied: %zu\n",
      report.output.c_str(), report.tensors, report.converted,
      human_bytes(report.bytes_out).c_str(), report.copied.size());
  return 0;
}

}  // namespace pocket
