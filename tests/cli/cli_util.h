// Running the `pocket` binary from tests: the binary beside the test binary, its exit status and
// output, and the one-line error convention. Tests skip (with a message) where it cannot run,
// e.g. under qemu.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace pocket::cli_test {

struct Result {
  int status = -1;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pocket binary beside this test binary, or "" if there is none that runs.
inline const std::string& pocket_binary() {
  static const std::string path = [] {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::string();
    const std::string p = (self.parent_path() / "pocket").string();
    if (access(p.c_str(), X_OK) != 0) return std::string();
    if (std::system((p + " --version >/dev/null 2>&1").c_str()) != 0) return std::string();
    return p;
  }();
  return path;
}

inline Result run(const std::string& args, const test::TempDir& tmp) {
  const std::string out = tmp.file("stdout"), err = tmp.file("stderr");
  const std::string cmd = pocket_binary() + " " + args + " >" + out + " 2>" + err;
  const int raw = std::system(cmd.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// Starts `pocket ARGS...` in the background (stdout discarded, stderr appended to `log`) and
// returns its pid, for tests that kill it or run several at once.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log = "/dev/null") {
  std::vector<char*> argv;
  std::string bin = pocket_binary();
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  return pid;
}

// A failure: status 1 and exactly one line on stderr, "pocket: ...", containing `phrase`.
inline void check_one_line_error(const Result& r, const std::string& phrase) {
  CHECK(r.status == 1);
  CHECK(r.err.rfind("pocket: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_MESSAGE(r.err.find(phrase) != std::string::npos, r.err);
}

#define SKIP_WITHOUT_POCKET()                                                       \
  if (pocket_binary().empty()) {                                                    \
    MESSAGE("skipped: no runnable bin/pocket beside the test binary (cross build?)"); \
    return;                                                                         \
  }


}  // namespace pocket::cli_test
