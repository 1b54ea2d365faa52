// The `pocket` command. Subcommands live one per file in src/cli/ and arrive with the model,
// tuning and side-tuning work; this file parses the global flags and dispatches.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "io/error.h"
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
      "usage: pocket [--help] [--version]\n"
      "\n"
      "options:\n"
      "  -h, --help     this text, with the CPU features found and the SIMD path compiled\n"
      "  -V, --version  print the version and the build\n"
      "\n"
      "Model commands (init, convert, forward, generate), tuning (tune, eval, replay, export) and\n"
      "side tuning (side-tune, side-server) are not built yet in this version.\n"
      "\n"
      "cpu:     %s%s%s, %d logical cpus\n"
      "         features:",
      POCKET_VERSION, cpu.arch.c_str(), cpu.model.empty() ? "" : " - ", cpu.model.c_str(),
      cpu.logical_cpus);
  for (const auto& f : cpu.features) std::printf(" %s", f.c_str());
  std::printf("\nbuild:   %s\n", pocket::build_description().c_str());
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
      std::printf("pocket %s (%s)\n", POCKET_VERSION, pocket::build_description().c_str());
      return 0;
    }
    throw pocket::Error("", "unknown command '" + cmd + "' (see pocket --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pocket: %s\n", e.what());
    return 1;
  }
}
