// The human- and tool-readable logs of a run: log.jsonl (one JSON object per event), loss.csv
// (step, train loss, loss EMA, eval metric) and loss.svg (loss_plot.h), all in the run directory.
// On resume the logs are cut back to the journal's last step so that a crash between the journal
// append and the log line never leaves a gap or a duplicate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pocket {

struct TrainPoint {
  std::int64_t step = 0;
  double loss = 0.0;      // (L+ + L−) / 2 of the step
  double loss_ema = 0.0;  // exponential moving average, alpha = 0.1? (the caller's)
  bool rejected = false;
};

struct EvalPoint {
  std::int64_t step = 0;
  double metric = 0.0;      // accuracy (classification) or loss (lm)
  std::string metric_name;  // "accuracy" or "loss"
};

class RunLog {
 public:
  // Opens the logs of run_dir for appending, dropping lines of steps > last_step (resume) and
  // any torn last line; loads the kept points (for the plot).
  RunLog(const std::string& run_dir, std::int64_t last_step);

  void train(const TrainPoint& p);                  // appends to log.jsonl and loss.csv
  void eval(const EvalPoint& p);                    // appends to log.jsonl and loss.csv
  void event(const std::string& json_object_line);  // any other log.jsonl line (start, resume, end)
  // Redraws loss.svg from every point so far (atomically: temp, rename).
  void plot(const std::string& title) const;

  const std::vector<TrainPoint>& train_points() const;
  const std::vector<EvalPoint>& eval_points() const;

 private:
  // Each append opens, writes and closes its file: a few microseconds against a step's forward
  // passes, and no descriptor to own.
  std::string jsonl_path_, csv_path_, svg_path_;
  std::vector<TrainPoint> train_;
  std::vector<EvalPoint> eval_;
};

}  // namespace pocket
