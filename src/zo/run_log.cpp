#include "zo/run_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/json_parse.h"
#include "zo/loss_plot.h"

namespace pocket {

namespace {

// ordered_json: keys stay in the order written ("event", "step", ...), which reads better than
// nlohmann's default alphabetical order.
using Json = nlohmann::ordered_json;

constexpr std::string_view kCsvHeader = "step,loss,loss_ema,eval\n";

// Shortest text that reads back as the same double ("nan"/"inf" for non-finite values).
std::string format_double(double v) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

// The whole file, or nullopt when it does not exist.
std::optional<std::string> read_if_exists(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(path, std::string("cannot open: ") + std::strerror(errno));
  }
  std::string content;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      throw Error(path, "read failed: " + reason);
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

// The complete lines of `text` (each with its '\n'); a last line without one is torn and left
// out.
std::vector<std::string_view> complete_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t begin = 0;
  for (std::size_t end; (end = text.find('\n', begin)) != std::string_view::npos; begin = end + 1) {
    lines.push_back(text.substr(begin, end + 1 - begin));
  }
  return lines;
}

double json_number(const Json& value) {
  // nlohmann writes NaN and infinities as null: a rejected step's loss.
  return value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// The train or eval point of a kept log.jsonl line; other events carry none.
void load_point(const Json& line, std::int64_t step, std::vector<TrainPoint>& train,
                std::vector<EvalPoint>& eval) {
  const auto event = line.find("event");
  if (event == line.end() || !event->is_string()) return;
  if (*event == "train") {
    TrainPoint p;
    p.step = step;
    if (const auto it = line.find("loss"); it != line.end()) p.loss = json_number(*it);
    if (const auto it = line.find("loss_ema"); it != line.end()) p.loss_ema = json_number(*it);
    if (const auto it = line.find("rejected"); it != line.end()) p.rejected = *it == true;
    train.push_back(p);
  } else if (*event == "eval") {
    // The metric is the one key besides "event" and "step".
    for (const auto& [key, value] : line.items()) {
      if (key == "event" || key == "step") continue;
      eval.push_back({step, json_number(value), key});
      break;
    }
  }
}

// Appends one line with a single write() on an O_APPEND descriptor: a crash leaves at most the
// torn tail that the next constructor drops. No fsync: the journal is the durable record, the
// logs are cut back to it on resume.
void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path, std::string("cannot open for appending: ") + std::strerror(errno));
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      throw Error(path, "write failed: " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

RunLog::RunLog(const std::string& run_dir, std::int64_t last_step)
    : jsonl_path_(run_dir + "/log.jsonl"),
      csv_path_(run_dir + "/loss.csv"),
      svg_path_(run_dir + "/loss.svg") {
  if (const auto text = read_if_exists(jsonl_path_)) {
    const auto lines = complete_lines(*text);
    std::string kept;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      Json line;
      try {
        line = parse_json<Json>(lines[i], jsonl_path_);
      } catch (const Error&) {
        line = nullptr;  // unparsable (or nested too deep): not a point
      }
      if (!line.is_object()) {
        // An unparsable last line is a torn write as well; one elsewhere is not ours to delete.
        if (i + 1 < lines.size()) kept += lines[i];
        continue;
      }
      const auto step_it = line.find("step");
      const auto step = step_it == line.end()
                            ? std::nullopt
                            : json_int_in(*step_it, 0, std::numeric_limits<std::int64_t>::max());
      if (!step) {
        kept += lines[i];  // start, resume and other events without a step
        continue;
      }
      if (*step > last_step) continue;
      kept += lines[i];
      load_point(line, *step, train_, eval_);
    }
    if (kept != *text) write_file_atomic(jsonl_path_, kept);
  }

  const auto csv = read_if_exists(csv_path_);
  std::string kept_csv(kCsvHeader);
  if (csv) {
    const auto lines = complete_lines(*csv);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i == 0 && lines[i] == kCsvHeader) continue;
      std::int64_t step = 0;
      const auto parsed = std::from_chars(lines[i].data(), lines[i].data() + lines[i].size(), step);
      const bool has_step = parsed.ec == std::errc() && *parsed.ptr == ',';
      if (!has_step && i + 1 == lines.size()) continue;  // torn last row
      if (has_step && step > last_step) continue;
      kept_csv += lines[i];
    }
  }
  if (!csv || kept_csv != *csv) write_file_atomic(csv_path_, kept_csv);
}

void RunLog::train(const TrainPoint& p) {
  Json line;
  line["event"] = "train";
  line["step"] = p.step;
  line["loss"] = p.loss;
  line["loss_ema"] = p.loss_ema;
  line["rejected"] = p.rejected;
  append_line(jsonl_path_, line.dump() + "\n");
  append_line(csv_path_, std::to_string(p.step) + "," + format_double(p.loss) + "," +
                             format_double(p.loss_ema) + ",\n");
  train_.push_back(p);
}

void RunLog::eval(const EvalPoint& p) {
  Json line;
  line["event"] = "eval";
  line["step"] = p.step;
  line[p.metric_name.empty() ? "metric" : p.metric_name] = p.metric;
  append_line(jsonl_path_, line.dump() + "\n");
  append_line(csv_path_, std::to_string(p.step) + ",,," + format_double(p.metric) + "\n");
  eval_.push_back(p);
}

void RunLog::event(const std::string& json_object_line) {
  std::string_view text = json_object_line;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  // A line that is not one JSON object would make log.jsonl unreadable for every tool after it.
  const Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object() || text.find('\n') != std::string_view::npos) {
    throw Error(jsonl_path_, "event is not a one-line JSON object: " + std::string(text));
  }
  append_line(jsonl_path_, std::string(text) + "\n");
}

void RunLog::plot(const std::string& title) const {
  PlotSeries raw{"train loss", {}, {}, "#1f77b4"};
  raw.faint = true;
  PlotSeries ema{"train loss (EMA)", {}, {}, "#1f77b4"};
  for (const auto& p : train_) {
    raw.x.push_back(static_cast<double>(p.step));
    raw.y.push_back(p.loss);
    ema.x.push_back(static_cast<double>(p.step));
    ema.y.push_back(p.loss_ema);
  }
  PlotOptions options;
  options.title = title;
  const std::string metric = eval_.empty() ? "" : eval_.back().metric_name;
  PlotSeries eval{"eval " + (metric.empty() ? "metric" : metric), {}, {}, "#d62728"};
  eval.markers = true;
  // Accuracy lives on 0..1 and rises while the loss falls: its own axis. An eval loss is
  // comparable with the train loss: the same axis.
  if (metric == "accuracy") {
    eval.right_axis = true;
    options.right_label = "eval accuracy";
  }
  for (const auto& p : eval_) {
    eval.x.push_back(static_cast<double>(p.step));
    eval.y.push_back(p.metric);
  }
  write_file_atomic(svg_path_, render_line_plot({raw, ema, eval}, options));
}

const std::vector<TrainPoint>& RunLog::train_points() const { return train_; }
const std::vector<EvalPoint>& RunLog::eval_points() const { return eval_; }

}  // namespace pocket
