// Crash injection for the crash-safety tests: with POCKET_CRASH_AT=<point>:<step> in the
// environment, crash_point(point, step) kills the process with SIGKILL (no cleanup, no flush:
// what a power cut or the OOM killer does) at exactly that place. Points: "journal" (half a record
// written), "update" (half the tensors updated), "snapshot" (half the snapshot's bytes written).
// Without the variable it costs one cached getenv.
#pragma once

#include <cstdint>

namespace pocket {

void crash_point(const char* point, std::int64_t step);

}  // namespace pocket
