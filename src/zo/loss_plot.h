// loss.svg: a self-contained SVG line chart that any browser opens — axes with "nice" ticks,
// labels, a title, the train loss (raw points faint, EMA bold) on the left axis and the eval
// metric on a right axis, and a legend. Pure string building: no I/O here.
#pragma once

#include <string>
#include <vector>

namespace pocket {

struct PlotSeries {
  std::string name;            // legend text, e.g. "train loss (EMA)"
  std::vector<double> x, y;    // same length; non-finite y values are skipped
  std::string color;           // e.g. "#1f77b4"
  bool right_axis = false;     // plotted against the right axis (eval accuracy)
  bool faint = false;          // thin, translucent (raw train loss)
  bool markers = false;        // dots at the points (sparse eval points)
};

struct PlotOptions {
  std::string title;
  std::string x_label = "step";
  std::string left_label = "loss";
  std::string right_label;     // empty: no right axis
  int width = 800, height = 480;
};

std::string render_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

// Round tick values covering [lo, hi] with about `target` ticks (1, 2, 5 × 10^k steps).
std::vector<double> nice_ticks(double lo, double hi, int target);

}  // namespace pocket
