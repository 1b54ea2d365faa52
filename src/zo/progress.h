// Progress of a long run on stderr: a one-line bar redrawn in place when stderr is a terminal
// (step/total, loss EMA, steps/s, ETA, RSS), plain lines every few seconds otherwise (logs,
// CI), nothing with quiet.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace pocket {

class Progress {
 public:
  // total: steps of the whole run; first: the step this process starts at (resume), so that
  // steps/s and the ETA count only this process's steps. `out` is stderr in the CLI; tests pass
  // a file. terminal: whether `out` is a terminal (isatty(fileno(out)) in the CLI).
  Progress(std::int64_t total, std::int64_t first, bool quiet, std::FILE* out, bool terminal);
  ~Progress();  // finishes the bar line when one is drawn

  // After step `step` (1-based) with its loss EMA; draws at most ~10 times a second (terminal) or
  // every `plain_interval` seconds (plain lines).
  void update(std::int64_t step, double loss_ema);
  // A message that must not be torn by the bar (eval results, warnings): clears the bar, prints
  // the line, redraws.
  void message(const std::string& line);
  void finish();
};

// Peak and current resident set size of this process in bytes (getrusage / /proc/self/statm).
std::uint64_t peak_rss_bytes();
std::uint64_t current_rss_bytes();

// "12.3 MB", "1.05 GB": for progress lines and reports.
std::string format_bytes(std::uint64_t bytes);
// "1:02:03", "4:05": for ETA.
std::string format_duration(double seconds);

}  // namespace pocket
