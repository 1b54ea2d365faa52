#include "io/memory_stats.h"
#include "zo/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string>

namespace pocket {

namespace {

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// Four decimals read well for cross-entropies (0.6931, 10.8235); outside that range the fixed
// form would show 0.0000 or a wall of digits.
std::string format_loss(double loss) {
  if (!std::isfinite(loss)) return std::isnan(loss) ? "nan" : (loss > 0 ? "inf" : "-inf");
  const double magnitude = std::fabs(loss);
  if (magnitude != 0.0 && (magnitude < 1e-3 || magnitude >= 1e5)) {
    return printf_string("%.3e", loss);
  }
  return printf_string("%.4f", loss);
}

}  // namespace

Progress::Progress(std::int64_t total, std::int64_t first, bool quiet, std::FILE* out,
                   bool terminal)
    : total_(total),
      first_(first),
      quiet_(quiet),
      terminal_(terminal),
      out_(out),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::update(std::int64_t step, double loss_ema) {
  if (quiet_ || finished_) return;
  step_ = step;
  loss_ema_ = loss_ema;
  pending_ = true;
  const double since_draw = std::chrono::duration<double>(Clock::now() - last_draw_).count();
  const double interval = terminal_ ? terminal_interval : plain_interval;
  // The first step and the last one are always shown: a short run still leaves a line, and
  // the bar never stops short of 100%.
  if (!drawn_ || since_draw >= interval || step >= total_) draw();
}

void Progress::message(const std::string& line) {
  if (quiet_) return;
  if (bar_on_screen_) {
    // "\r" + erase to end of line (ANSI EL): the message takes the bar's place, the bar is
    // redrawn below it.
    std::fprintf(out_, "\r\x1b[K%s\n", line.c_str());
    bar_on_screen_ = false;
    draw();
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
  }
}

void Progress::finish() {
  if (quiet_ || finished_) return;
  if (pending_) draw();
  finished_ = true;
  if (bar_on_screen_) {
    std::fputc('\n', out_);
    bar_on_screen_ = false;
  }
  std::fflush(out_);
}

std::string Progress::status_text(bool with_rss) const {
  std::string text = "loss " + format_loss(loss_ema_);
  // `first` is the first step this process runs, so it has run step - first + 1 of them since
  // it was constructed (steps replayed from a journal are not counted).
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const auto done = static_cast<double>(std::max<std::int64_t>(step_ - first_ + 1, 0));
  if (done > 0 && elapsed > 0) {
    const double rate = done / elapsed;
    if (rate >= 1.0) {
      text += "  " + printf_string(rate >= 100.0 ? "%.0f" : "%.1f", rate) + " step/s";
    } else {
      text += "  " + printf_string("%.1f", 1.0 / rate) + " s/step";
    }
    const double left = static_cast<double>(std::max<std::int64_t>(total_ - step_, 0));
    text += "  ETA " + format_duration(left / rate);
  }
  if (with_rss) {
    const std::uint64_t rss = current_rss_bytes();
    text += "  RSS " + format_bytes(rss != 0 ? rss : peak_rss_bytes());
  }
  return text;
}

int Progress::terminal_width() const {
  winsize size{};
  if (terminal_ && ::ioctl(fileno(out_), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  return 80;
}

void Progress::draw() {
  last_draw_ = Clock::now();
  drawn_ = true;
  pending_ = false;
  const std::string counter = "step " + std::to_string(step_) + "/" + std::to_string(total_);
  if (!terminal_) {
    std::fprintf(out_, "%s  %s\n", counter.c_str(), status_text(true).c_str());
    std::fflush(out_);
    return;
  }
  const double fraction =
      total_ > 0 ? std::clamp(static_cast<double>(step_) / static_cast<double>(total_), 0.0, 1.0)
                 : 0.0;
  const std::string percent = std::to_string(static_cast<int>(fraction * 100.0)) + "%";
  // Stay one column short of the width: writing the last column makes some terminals wrap,
  // and '\r' then returns to the start of the new line, not of the bar.
  const int usable = terminal_width() - 1;
  // What gives way on a narrow terminal: the bar shrinks to 10 cells, then RSS goes, then the
  // bar, then the end of the line.
  constexpr int min_bar = 10, max_bar = 50;
  auto bar_room = [&](const std::string& status) {
    // "counter [bar] percent  status"
    return usable - static_cast<int>(counter.size() + 4 + percent.size() + 2 + status.size());
  };
  std::string status = status_text(true);
  if (bar_room(status) < min_bar) status = status_text(false);
  const int bar_width = std::min(bar_room(status), max_bar);
  std::string line = counter + " ";
  if (bar_width >= min_bar) {
    const int filled = static_cast<int>(fraction * bar_width);
    std::string bar(static_cast<std::size_t>(bar_width), ' ');
    std::fill_n(bar.begin(), filled, '=');
    if (filled > 0 && filled < bar_width) bar[static_cast<std::size_t>(filled - 1)] = '>';
    line += "[" + bar + "] ";
  }
  line += percent + "  " + status;
  if (static_cast<int>(line.size()) > usable) {
    line.resize(static_cast<std::size_t>(std::max(usable, 0)));
  }
  std::fprintf(out_, "\r\x1b[K%s", line.c_str());
  std::fflush(out_);
  bar_on_screen_ = true;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<long long>(std::llround(std::min(seconds, 1e12)));
  const long long hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  char buf[48];
  if (hours > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", hours, minutes, secs);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", minutes, secs);
  }
  return buf;
}

}  // namespace pocket
