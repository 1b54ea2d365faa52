// The one error type of user-facing code (I/O, configuration, command lines). It carries where
// the problem is (a file, a tensor, a flag) and what it is; main() catches it once and prints
// "pocket: <where>: <what>" on one line. Kernels never throw: they assert their preconditions.
#pragma once

#include <stdexcept>
#include <string>

namespace pocket {

class Error : public std::runtime_error {
 public:
  Error(const std::string& where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what) {}
};

}  // namespace pocket
