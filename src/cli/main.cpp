// The `pocket` command. Subcommands live one per file in src/cli/ (commands.h); this file prints
// the overview, parses the global flags and dispatches.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "io/error.h"
#include "kernels/cpu_config.h"
#include "kernels/cpu_features.h"
#include "kernels/simd.h"

#ifndef POCKET_VERSION
#define POCKET_VERSION "0.1.0"
#endif

namespace {

void print_help() {
  const pocket::CpuFeatures cpu = pocket::detect_cpu_features();
  std::printf(
      "pocket %s - run and fine-tune LLMs on the device that holds the data\n"
      "\n"
      "usage: pocket COMMAND [ARGS]   (pocket COMMAND --help for each)\n"
      "\n"
      "commands:\n"
      "  init       make a model directory with random weights in a published shape\n"
      "  convert    turn an F32/BF16 Hugging Face checkpoint into the F16 one pocket maps\n"
      "  quantize   write a model as a GGUF file (Q8_0, Q4_0, Q4_K, F16) with its tokenizer\n"
      "  forward    token ids and logits of one sequence (--json for exact values)\n"
      "  generate   continue a prompt (KV cache, greedy or sampled), tokens/s on stderr\n"
      "  tune       MeZO zeroth-order fine-tuning into a crash-safe, resumable run directory\n"
      "  eval       accuracy (classification) or loss and perplexity (lm) of a model or a run\n"
      "  export     a run's tuned model as a Hugging Face directory\n"
      "  replay     rebuild a run's tuned model from the base model and the journal alone\n"
      "  side-tune  server-assisted side tuning: forward here, a side network trained on a server\n"
      "  side-server  the server of side-tune: trains side networks for authenticated devices\n"
      "\n"
      "options:\n"
      "  -h, --help     this text, with the CPU features found and the SIMD path compiled\n"
      "  -V, --version  print the version and the build\n"
      "  --threads N    (every command) threads to use; default: every hardware thread\n"
      "\n"
      "cpu:     %s%s%s, %d logical cpus\n"
      "         features:",
      POCKET_VERSION, cpu.arch.c_str(), cpu.model.empty() ? "" : " - ", cpu.model.c_str(),
      cpu.logical_cpus);
  for (const auto& f : cpu.features) std::printf(" %s", f.c_str());
  std::printf("\nbuild:   %s\n", pocket::build_description().c_str());
  std::printf("kernels: %s\n", pocket::describe(pocket::cpu_config()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      print_help();
      return 0;
    }
    const std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      print_help();
      return 0;
    }
    if (cmd == "-V" || cmd == "--version") {
      std::printf("pocket %s (%s; %s)\n", POCKET_VERSION, pocket::build_description().c_str(),
                  pocket::describe(pocket::cpu_config()).c_str());
      return 0;
    }
    struct Command {
      const char* name;
      int (*run)(int, char**);
    };
    static constexpr Command kCommands[] = {{"init", pocket::cmd_init},
                                            {"convert", pocket::cmd_convert},
                                            {"quantize", pocket::cmd_quantize},
                                            {"forward", pocket::cmd_forward},
                                            {"generate", pocket::cmd_generate},
                                            {"tune", pocket::cmd_tune},
                                            {"eval", pocket::cmd_eval},
                                            {"export", pocket::cmd_export},
                                            {"replay", pocket::cmd_replay},
                                            {"side-tune", pocket::cmd_side_tune},
                                            {"side-server", pocket::cmd_side_server}};
    for (const Command& c : kCommands) {
      if (cmd == c.name) return c.run(argc - 1, argv + 1);
    }
    throw pocket::Error("", "unknown command '" + cmd + "' (see pocket --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pocket: %s\n", e.what());
    return 1;
  }
}
