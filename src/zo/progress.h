// Progress of a long run on stderr: a one-line bar redrawn in place when stderr is a terminal
// (step/total, loss EMA, steps/s, ETA, RSS), plain lines every few seconds otherwise (logs,
// CI), nothing with quiet.
#pragma once

#include <chrono>
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

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr double terminal_interval = 0.1;  // seconds between redraws of the bar
  static constexpr double plain_interval = 5.0;     // seconds between plain lines

  void draw();
  // "loss 0.6931  4.2 step/s  ETA 3:29  RSS 312 MB"
  std::string status_text(bool with_rss) const;
  int terminal_width() const;

  std::int64_t total_, first_;
  bool quiet_, terminal_;
  std::FILE* out_;
  Clock::time_point start_, last_draw_;
  std::int64_t step_ = 0;  // the last step passed to update()
  double loss_ema_ = 0.0;
  bool drawn_ = false;          // a bar or line was drawn at least once
  bool pending_ = false;        // update() since the last draw: finish() draws the final state
  bool bar_on_screen_ = false;  // terminal: the cursor sits at the end of the bar line
  bool finished_ = false;
};

// "1:02:03", "4:05": for ETA.
std::string format_duration(double seconds);

}  // namespace pocket
