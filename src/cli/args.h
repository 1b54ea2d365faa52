// A small command-line parser shared by the subcommands: --name VALUE / --name=VALUE options,
// boolean flags, positionals, and a --help text generated from the same declarations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket {

class Args {
 public:
  // usage: the first line of --help, e.g. "pocket forward MODEL_DIR (--text T | --ids IDS)";
  // about: a paragraph under it.
  Args(std::string usage, std::string about);

  // Declarations: the pointer receives the value when the option is given; its current value is
  // the default shown in --help.
  void option(const std::string& name, std::string* value, const std::string& help);
  void option(const std::string& name, std::int64_t* value, const std::string& help);
  void option(const std::string& name, double* value, const std::string& help);
  // Repeatable: every occurrence appends one value.
  void option(const std::string& name, std::vector<std::string>* values, const std::string& help);
  void flag(const std::string& name, bool* value, const std::string& help);
  // optional: may be left out (e.g. `pocket tune --resume RUN` has no MODEL_DIR).
  void positional(const std::string& name, std::string* value, const std::string& help,
                  bool optional = false);

  // Parses argv[1..argc) (argv[0] is the subcommand). Returns false when --help was asked (the
  // help has been printed); throws pocket::Error naming the flag for anything malformed:
  // unknown option, missing value, a number that does not parse, missing or extra positionals.
  bool parse(int argc, char** argv);
  bool given(const std::string& name) const;  // was the option/flag on the command line?
  void print_help() const;

 private:
  enum class Kind { kString, kInt, kDouble, kFlag, kList };
  struct Spec {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    std::string default_text;
    bool optional = false;
  };
  Spec* find(const std::string& name);
  void set(Spec& spec, const std::string& value);

  std::string usage_, about_;
  std::vector<Spec> options_;
  std::vector<Spec> positionals_;
  std::vector<std::string> given_;
};

// --threads N for every command: N <= 0 means every hardware thread.
void apply_threads(std::int64_t threads);

// "1.2 MiB", "3.45 GiB", "0.5 KiB": byte counts in progress lines and reports.
std::string human_bytes(std::uint64_t bytes);

// `path` made absolute and normalised (as a run records its inputs), or unchanged if that fails.
std::string absolute_path(const std::string& path);

}  // namespace pocket
