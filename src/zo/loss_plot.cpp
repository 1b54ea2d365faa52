#include "zo/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pocket {

namespace {

// Text size guesses for a 12 px sans-serif font: SVG cannot measure text, and the margins and
// the legend box must fit their labels.
constexpr double kFontSize = 12.0;
constexpr double kCharWidth = 7.0;

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Pixel coordinates: a tenth of a pixel is finer than any screen shows.
std::string px(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  return buf;
}

// An empty range (one point, constant y) gets room around its value so that it has ticks and
// the line sits in the middle of the plot instead of on its frame.
void pad_empty_range(double& lo, double& hi) {
  if (hi > lo) return;
  const double pad = lo != 0.0 ? std::fabs(lo) * 0.1 : 1.0;
  lo -= pad;
  hi += pad;
}

// A tick step m × 10^e with m in {1, 2, 5}.
struct Step {
  double mantissa;
  int exponent;
  double value() const { return mantissa * std::pow(10.0, exponent); }
  // k × step computed as an integer divided by a power of ten when e < 0: the double nearest
  // the decimal value (0.3, not 3 × 0.1 = 0.30000000000000004), so labels and data compare
  // exactly.
  double times(double k) const {
    return exponent >= 0 ? k * mantissa * std::pow(10.0, exponent)
                         : k * mantissa / std::pow(10.0, -exponent);
  }
};

// The step nearest (geometrically) to span / (target - 1).
Step nice_step(double span, int target) {
  const double rough = span / std::max(target - 1, 1);
  int exponent = static_cast<int>(std::floor(std::log10(rough)));
  const double residual = rough / std::pow(10.0, exponent);  // in [1, 10)
  double mantissa = residual < std::sqrt(2.0)    ? 1.0
                    : residual < std::sqrt(10.0) ? 2.0
                    : residual < std::sqrt(50.0) ? 5.0
                                                 : 10.0;
  if (mantissa == 10.0) mantissa = 1.0, ++exponent;
  return {mantissa, exponent};
}

// Significant digits that tell the ticks apart (those of the step below the largest tick's
// leading digit), and every digit of integers below 10^6 so that 1000 is not printed 1e+03:
// 0.5, 1000, 2.5e-05, 1.5e+06.
int label_precision(const std::vector<double>& ticks) {
  double largest = 0.0;
  for (const double t : ticks) largest = std::max(largest, std::fabs(t));
  if (ticks.size() < 2 || largest == 0.0) return 6;
  const int leading = static_cast<int>(std::floor(std::log10(largest)));
  const int step_digit = static_cast<int>(std::floor(std::log10(ticks[1] - ticks[0]) + 1e-9));
  int precision = leading - step_digit + 1;
  if (leading < 6) precision = std::max(precision, leading + 1);
  return std::clamp(precision, 1, 15);
}

std::string tick_label(double value, int precision) {
  if (value == 0.0) return "0";  // never "-0"
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", precision, value);
  return buf;
}

// One axis: its data range widened to round ticks at both ends.
struct Axis {
  double lo = 0.0, hi = 1.0;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  Axis(double data_lo, double data_hi, int target) {
    ticks = nice_ticks(data_lo, data_hi, target);
    lo = ticks.front();
    hi = ticks.back();
    const int precision = label_precision(ticks);
    for (const double t : ticks) labels.push_back(tick_label(t, precision));
  }
  std::size_t widest_label() const {
    std::size_t width = 0;
    for (const auto& label : labels) width = std::max(width, label.size());
    return width;
  }
};

struct Point {
  double x, y;
};

// A series' finite points.
std::vector<Point> finite_points(const PlotSeries& s) {
  std::vector<Point> points;
  const std::size_t n = std::min(s.x.size(), s.y.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) points.push_back({s.x[i], s.y[i]});
  }
  return points;
}

// Of each run of consecutive points that fall in one pixel column, keeps the first, the lowest,
// the highest and the last: the drawn line looks the same, and a 100k-step raw loss curve stays
// a file of a few hundred kilobytes at most.
std::vector<Point> thin_to_pixels(const std::vector<Point>& points) {
  std::vector<Point> kept;
  std::size_t begin = 0;
  while (begin < points.size()) {
    const double column = std::floor(points[begin].x);
    std::size_t end = begin, lowest = begin, highest = begin;
    for (; end < points.size() && std::floor(points[end].x) == column; ++end) {
      if (points[end].y < points[lowest].y) lowest = end;
      if (points[end].y > points[highest].y) highest = end;
    }
    std::size_t picks[] = {begin, lowest, highest, end - 1};
    std::sort(std::begin(picks), std::end(picks));
    const auto last = std::unique(std::begin(picks), std::end(picks));
    for (auto it = std::begin(picks); it != last; ++it) kept.push_back(points[*it]);
    begin = end;
  }
  return kept;
}

// How much of the drawn lines falls inside a box: samples every few pixels along each segment.
int samples_inside(const std::vector<std::vector<Point>>& lines, double x, double y, double w,
                   double h) {
  int inside = 0;
  auto count = [&](Point p) { inside += p.x >= x && p.x <= x + w && p.y >= y && p.y <= y + h; };
  for (const auto& line : lines) {
    if (!line.empty()) count(line.front());
    for (std::size_t i = 1; i < line.size(); ++i) {
      const Point a = line[i - 1], b = line[i];
      const int n = 1 + static_cast<int>(std::hypot(b.x - a.x, b.y - a.y) / 4.0);
      for (int k = 1; k <= n; ++k) {
        const double t = static_cast<double>(k) / n;
        count({a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t});
      }
    }
  }
  return inside;
}

void update_range(const std::vector<Point>& points, bool use_y, double& lo, double& hi) {
  for (const auto& p : points) {
    const double v = use_y ? p.y : p.x;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (lo > hi) std::swap(lo, hi);
  pad_empty_range(lo, hi);
  const double span = hi - lo;
  if (!std::isfinite(span)) return {lo, hi};  // beyond double's range: no round steps
  const Step step = nice_step(span, std::max(target, 2));
  // The tolerance keeps lo = 0.3, step 0.1 (0.3 / 0.1 = 2.9999999999999996) from growing a tick
  // at 0.2; one more tick where rounding left an end uncovered by a hair.
  double first = std::floor(lo / step.value() + 1e-9), last = std::ceil(hi / step.value() - 1e-9);
  if (step.times(first) > lo) first -= 1.0;
  if (step.times(last) < hi) last += 1.0;
  // An integer count: near 2^53, k + 1 == k and a loop over k would never end.
  const int count = static_cast<int>(std::min(last - first, 1000.0));
  std::vector<double> ticks;
  for (int i = 0; i <= count; ++i) ticks.push_back(step.times(first + i) + 0.0);  // -0 + 0 = +0
  return ticks;
}

std::string render_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options) {
  const double width = std::max(options.width, 200), height = std::max(options.height, 150);
  const bool has_right_axis = !options.right_label.empty();

  // Without a right axis, right-axis series share the left one.
  std::vector<std::vector<Point>> points;
  std::vector<bool> on_right;
  const double inf = INFINITY;
  double x_lo = inf, x_hi = -inf, left_lo = inf, left_hi = -inf, right_lo = inf, right_hi = -inf;
  for (const auto& s : series) {
    points.push_back(finite_points(s));
    on_right.push_back(has_right_axis && s.right_axis);
    update_range(points.back(), false, x_lo, x_hi);
    update_range(points.back(), true, on_right.back() ? right_lo : left_lo,
                 on_right.back() ? right_hi : left_hi);
  }
  // No data on an axis: a 0..1 frame, so that an empty plot still draws.
  if (x_lo > x_hi) x_lo = 0.0, x_hi = 1.0;
  if (left_lo > left_hi) left_lo = 0.0, left_hi = 1.0;
  if (right_lo > right_hi) right_lo = 0.0, right_hi = 1.0;

  const double top = options.title.empty() ? 20.0 : 40.0, bottom = height - 50.0;
  const int y_target = std::max(2, static_cast<int>((bottom - top) / 50.0));
  const Axis left_axis(left_lo, left_hi, y_target);
  const Axis right_axis(right_lo, right_hi, y_target);
  // Margins: axis label, gap, the widest tick label, tick mark.
  const double left = 24.0 + kCharWidth * static_cast<double>(left_axis.widest_label()) + 10.0;
  const double right =
      width - (has_right_axis
                   ? 24.0 + kCharWidth * static_cast<double>(right_axis.widest_label()) + 10.0
                   : 20.0);
  const Axis x_axis(x_lo, x_hi, std::max(2, static_cast<int>((right - left) / 90.0)));

  auto to_px = [&](const Axis& axis, double v) {
    return left + (v - axis.lo) / (axis.hi - axis.lo) * (right - left);
  };
  auto to_py = [&](const Axis& axis, double v) {
    return bottom - (v - axis.lo) / (axis.hi - axis.lo) * (bottom - top);
  };

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(width) + "\" height=\"" +
         px(height) + "\" viewBox=\"0 0 " + px(width) + " " + px(height) +
         "\" font-family=\"sans-serif\" font-size=\"" + px(kFontSize) + "\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + px(width) + "\" height=\"" + px(height) +
         "\" fill=\"white\"/>\n";
  if (!options.title.empty()) {
    svg += "<text x=\"" + px(width / 2) + "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" " +
           "font-weight=\"bold\">" + escape_xml(options.title) + "</text>\n";
  }

  // Grid at the x ticks and the left-axis ticks.
  svg += "<g stroke=\"#e5e5e5\" stroke-width=\"1\">\n";
  for (const double t : x_axis.ticks) {
    const std::string x = px(to_px(x_axis, t));
    svg += "<line x1=\"" + x + "\" y1=\"" + px(top) + "\" x2=\"" + x + "\" y2=\"" + px(bottom) +
           "\"/>\n";
  }
  for (const double t : left_axis.ticks) {
    const std::string y = px(to_py(left_axis, t));
    svg += "<line x1=\"" + px(left) + "\" y1=\"" + y + "\" x2=\"" + px(right) + "\" y2=\"" + y +
           "\"/>\n";
  }
  svg += "</g>\n";

  std::vector<std::vector<Point>> drawn;  // what the legend should not cover
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (points[i].empty()) continue;
    const PlotSeries& s = series[i];
    const Axis& y_axis = on_right[i] ? right_axis : left_axis;
    std::vector<Point> pixels;
    for (const auto& p : points[i]) pixels.push_back({to_px(x_axis, p.x), to_py(y_axis, p.y)});
    const std::string color = escape_xml(s.color.empty() ? "#000000" : s.color);
    svg += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-linejoin=\"round\" " +
           (s.faint ? "stroke-width=\"1\" stroke-opacity=\"0.35\"" : "stroke-width=\"2\"") +
           " points=\"";
    drawn.push_back(thin_to_pixels(pixels));
    for (const auto& p : drawn.back()) svg += px(p.x) + "," + px(p.y) + " ";
    svg.back() = '"';
    svg += "/>\n";
    // A lone point draws no line: give it a dot even without markers.
    if (s.markers || pixels.size() == 1) {
      svg += "<g fill=\"" + color + "\"" + (s.faint ? " fill-opacity=\"0.35\"" : "") + ">\n";
      for (const auto& p : pixels) {
        svg += "<circle cx=\"" + px(p.x) + "\" cy=\"" + px(p.y) + "\" r=\"3\"/>\n";
      }
      svg += "</g>\n";
    }
  }

  svg += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(right - left) +
         "\" height=\"" + px(bottom - top) + "\" fill=\"none\" stroke=\"#333333\"/>\n";

  // Tick marks (outside the frame) and their labels.
  svg += "<g stroke=\"#333333\">\n";
  for (const double t : x_axis.ticks) {
    const std::string x = px(to_px(x_axis, t));
    svg += "<line x1=\"" + x + "\" y1=\"" + px(bottom) + "\" x2=\"" + x + "\" y2=\"" +
           px(bottom + 5) + "\"/>\n";
  }
  for (const double t : left_axis.ticks) {
    const std::string y = px(to_py(left_axis, t));
    svg += "<line x1=\"" + px(left - 5) + "\" y1=\"" + y + "\" x2=\"" + px(left) + "\" y2=\"" + y +
           "\"/>\n";
  }
  if (has_right_axis) {
    for (const double t : right_axis.ticks) {
      const std::string y = px(to_py(right_axis, t));
      svg += "<line x1=\"" + px(right) + "\" y1=\"" + y + "\" x2=\"" + px(right + 5) + "\" y2=\"" +
             y + "\"/>\n";
    }
  }
  svg += "</g>\n<g fill=\"#333333\">\n";
  for (std::size_t i = 0; i < x_axis.ticks.size(); ++i) {
    svg += "<text x=\"" + px(to_px(x_axis, x_axis.ticks[i])) + "\" y=\"" + px(bottom + 18) +
           "\" text-anchor=\"middle\">" + escape_xml(x_axis.labels[i]) + "</text>\n";
  }
  // Baseline offset of a third of the font size centres a label on its tick.
  for (std::size_t i = 0; i < left_axis.ticks.size(); ++i) {
    svg += "<text x=\"" + px(left - 8) + "\" y=\"" +
           px(to_py(left_axis, left_axis.ticks[i]) + kFontSize / 3) + "\" text-anchor=\"end\">" +
           escape_xml(left_axis.labels[i]) + "</text>\n";
  }
  if (has_right_axis) {
    for (std::size_t i = 0; i < right_axis.ticks.size(); ++i) {
      svg += "<text x=\"" + px(right + 8) + "\" y=\"" +
             px(to_py(right_axis, right_axis.ticks[i]) + kFontSize / 3) +
             "\" text-anchor=\"start\">" + escape_xml(right_axis.labels[i]) + "</text>\n";
    }
  }
  svg += "</g>\n";

  // Axis labels: x centred under the plot, y labels rotated along their axes.
  const std::string middle_y = px((top + bottom) / 2);
  svg += "<text x=\"" + px((left + right) / 2) + "\" y=\"" + px(height - 12) +
         "\" text-anchor=\"middle\">" + escape_xml(options.x_label) + "</text>\n";
  svg += "<text x=\"16\" y=\"" + middle_y + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         middle_y + ")\">" + escape_xml(options.left_label) + "</text>\n";
  if (has_right_axis) {
    const std::string x = px(width - 16);
    svg += "<text x=\"" + x + "\" y=\"" + middle_y +
           "\" text-anchor=\"middle\" transform=\"rotate(90 " + x + " " + middle_y + ")\">" +
           escape_xml(options.right_label) + "</text>\n";
  }

  // Legend: the named series with data, on a translucent box in the corner of the frame that
  // covers the least of the lines (top right when they tie).
  std::vector<std::size_t> listed;
  std::size_t widest = 0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (points[i].empty() || series[i].name.empty()) continue;
    listed.push_back(i);
    widest = std::max(widest, series[i].name.size());
  }
  if (!listed.empty()) {
    const double row = 18.0;
    const double box_w = 10.0 + 24.0 + 6.0 + kCharWidth * static_cast<double>(widest) + 10.0;
    const double box_h = 8.0 + row * static_cast<double>(listed.size());
    const double near_x = right - 10.0 - box_w, far_x = left + 10.0;
    const double near_y = top + 10.0, far_y = bottom - 10.0 - box_h;
    double box_x = near_x, box_y = near_y;
    int least = samples_inside(drawn, box_x, box_y, box_w, box_h);
    for (const auto& [x, y] : {std::pair{far_x, near_y}, {near_x, far_y}, {far_x, far_y}}) {
      const int covered = samples_inside(drawn, x, y, box_w, box_h);
      if (covered < least) least = covered, box_x = x, box_y = y;
    }
    svg += "<g>\n<rect x=\"" + px(box_x) + "\" y=\"" + px(box_y) + "\" width=\"" + px(box_w) +
           "\" height=\"" + px(box_h) +
           "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n";
    for (std::size_t r = 0; r < listed.size(); ++r) {
      const PlotSeries& s = series[listed[r]];
      const std::string color = escape_xml(s.color.empty() ? "#000000" : s.color);
      const double y = box_y + 4.0 + row * (static_cast<double>(r) + 0.5);
      svg += "<line x1=\"" + px(box_x + 10) + "\" y1=\"" + px(y) + "\" x2=\"" + px(box_x + 34) +
             "\" y2=\"" + px(y) + "\" stroke=\"" + color + "\" " +
             (s.faint ? "stroke-width=\"1\" stroke-opacity=\"0.35\"" : "stroke-width=\"2\"") +
             "/>\n";
      if (s.markers) {
        svg += "<circle cx=\"" + px(box_x + 22) + "\" cy=\"" + px(y) + "\" r=\"3\" fill=\"" +
               color + "\"/>\n";
      }
      svg += "<text x=\"" + px(box_x + 40) + "\" y=\"" + px(y + kFontSize / 3) + "\">" +
             escape_xml(s.name) + "</text>\n";
    }
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace pocket
