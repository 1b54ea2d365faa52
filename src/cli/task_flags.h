// The task flags shared by `pocket tune` and `pocket eval` (src/task/task.h): declared once so that
// both commands spell and document them the same way.
#pragma once

#include <string>

#include "cli/args.h"
#include "task/task.h"

namespace pocket {

struct TaskFlags {
  std::string task = "classification";
  TaskOptions options;
  void declare(Args& args);
  // The options, checked (kind name); `args` tells which flags were given.
  TaskOptions parse() const;
  // Flags given on the command line override `base` (eval of a run: the run's task by default).
  TaskOptions override(const Args& args, TaskOptions base) const;
};

}  // namespace pocket
