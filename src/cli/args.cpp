#include "cli/args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "io/error.h"
#include "kernels/thread_pool.h"

namespace pocket {

Args::Args(std::string usage, std::string about)
    : usage_(std::move(usage)), about_(std::move(about)) {}

void Args::option(const std::string& name, std::string* value, const std::string& help) {
  options_.push_back({name, Kind::kString, value, help, value->empty() ? "" : *value});
}
void Args::option(const std::string& name, std::int64_t* value, const std::string& help) {
  options_.push_back({name, Kind::kInt, value, help, std::to_string(*value)});
}
void Args::option(const std::string& name, double* value, const std::string& help) {
  std::ostringstream text;
  text << *value;
  options_.push_back({name, Kind::kDouble, value, help, text.str()});
}
void Args::option(const std::string& name, std::vector<std::string>* values,
                  const std::string& help) {
  options_.push_back({name, Kind::kList, values, help, ""});
}
void Args::flag(const std::string& name, bool* value, const std::string& help) {
  options_.push_back({name, Kind::kFlag, value, help, ""});
}
void Args::positional(const std::string& name, std::string* value, const std::string& help,
                      bool optional) {
  positionals_.push_back({name, Kind::kString, value, help, "", optional});
}

Args::Spec* Args::find(const std::string& name) {
  for (Spec& s : options_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void Args::set(Spec& spec, const std::string& value) {
  switch (spec.kind) {
    case Kind::kString:
      *static_cast<std::string*>(spec.target) = value;
      break;
    case Kind::kInt: {
      std::size_t used = 0;
      long long x = 0;
      try {
        x = std::stoll(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || value.empty()) {
        throw Error(spec.name, "'" + value + "' is not an integer");
      }
      *static_cast<std::int64_t*>(spec.target) = x;
      break;
    }
    case Kind::kDouble: {
      std::size_t used = 0;
      double x = 0;
      try {
        x = std::stod(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || value.empty() || !std::isfinite(x)) {
        throw Error(spec.name, "'" + value + "' is not a number");
      }
      *static_cast<double*>(spec.target) = x;
      break;
    }
    case Kind::kFlag:
      *static_cast<bool*>(spec.target) = true;
      break;
    case Kind::kList:
      static_cast<std::vector<std::string>*>(spec.target)->push_back(value);
      break;
  }
  given_.push_back(spec.name);
}

bool Args::parse(int argc, char** argv) {
  std::size_t next_positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      print_help();
      return false;
    }
    // An option: "--name VALUE", "--name=VALUE", or a declared short name such as "-n VALUE".
    // A lone "-x" that is not declared is a mistake, not a positional; "-3" is a positional.
    const bool long_form = arg.size() > 2 && arg.compare(0, 2, "--") == 0;
    const bool short_form = arg.size() > 1 && arg[0] == '-' && !(arg[1] >= '0' && arg[1] <= '9');
    if (long_form || short_form) {
      std::string value;
      bool inline_value = false;
      const std::size_t eq = long_form ? arg.find('=') : std::string::npos;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      Spec* spec = find(arg);
      if (spec == nullptr) throw Error(arg, "unknown option (see --help)");
      if (spec->kind == Kind::kFlag) {
        if (inline_value) throw Error(arg, "takes no value");
        set(*spec, "");
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) throw Error(arg, "needs a value");
        value = argv[++i];
      }
      set(*spec, value);
      continue;
    }
    if (next_positional >= positionals_.size()) {
      throw Error(arg, "unexpected argument (see --help)");
    }
    *static_cast<std::string*>(positionals_[next_positional++].target) = arg;
  }
  if (next_positional < positionals_.size() && !positionals_[next_positional].optional) {
    throw Error(positionals_[next_positional].name, "missing (see --help)");
  }
  return true;
}

bool Args::given(const std::string& name) const {
  return std::find(given_.begin(), given_.end(), name) != given_.end();
}

void Args::print_help() const {
  std::printf("usage: %s\n\n%s\n", usage_.c_str(), about_.c_str());
  if (!positionals_.empty()) {
    std::printf("\narguments:\n");
    for (const Spec& s : positionals_) std::printf("  %-18s %s\n", s.name.c_str(), s.help.c_str());
  }
  std::printf("\noptions:\n");
  for (const Spec& s : options_) {
    std::string left = s.name;
    if (s.kind == Kind::kInt) left += " N";
    if (s.kind == Kind::kDouble) left += " X";
    if (s.kind == Kind::kString) left += " S";
    if (s.kind == Kind::kList) left += " S...";
    std::string help = s.help;
    if (!s.default_text.empty()) help += " (default: " + s.default_text + ")";
    std::printf("  %-18s %s\n", left.c_str(), help.c_str());
  }
  std::printf("  %-18s %s\n", "-h, --help", "this text");
}

void apply_threads(std::int64_t threads) {
  if (threads < 0) throw Error("--threads", "must be >= 1 (0 = every hardware thread)");
  // More workers than 8 per hardware thread only add switching, and every worker costs a stack
  // (8 MiB of address space): a pool the OS refuses halfway ends the process in std::terminate,
  // so absurd counts are refused here, before any thread starts.
  const std::int64_t hardware = std::max<std::int64_t>(1, std::thread::hardware_concurrency());
  const std::int64_t most = std::min<std::int64_t>(1024, std::max<std::int64_t>(64, 8 * hardware));
  if (threads > most) {
    throw Error("--threads", std::to_string(threads) + " is more than " + std::to_string(most) +
                                 " (8 per hardware thread, at least 64)");
  }
  set_num_threads(static_cast<int>(threads));
}

std::string absolute_path(const std::string& path) {
  std::error_code error;
  const std::filesystem::path p = std::filesystem::absolute(path, error);
  return error ? path : p.lexically_normal().string();
}

std::string human_bytes(std::uint64_t bytes) {
  char text[32];
  if (bytes >= (std::uint64_t{1} << 30)) {
    std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (std::uint64_t{1} << 20)) {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / (1 << 10));
  }
  return text;
}

}  // namespace pocket
