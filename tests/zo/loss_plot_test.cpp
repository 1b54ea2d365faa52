// loss_plot: nice ticks are round and cover their range; the SVG is well nested and carries the
// title, the axis labels, one polyline per series with data, and escaped text, also for the
// edge cases (no data, one point, constant y, non-finite values).
#include "zo/loss_plot.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace pocket;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Every element is closed in the order it was opened: a start tag pushes, an end tag pops, a
// self-closing tag does both. Enough XML to catch a broken string builder.
bool balanced(const std::string& svg) {
  std::vector<std::string> open;
  for (std::size_t at = svg.find('<'); at != std::string::npos; at = svg.find('<', at + 1)) {
    const std::size_t end = svg.find('>', at);
    if (end == std::string::npos) return false;
    const std::string tag = svg.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag.find('<') != std::string::npos) return false;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
  }
  return open.empty();
}

// Text between tags and attribute values may hold '&' only as the start of an entity.
bool ampersands_escaped(const std::string& svg) {
  for (std::size_t at = svg.find('&'); at != std::string::npos; at = svg.find('&', at + 1)) {
    const std::string rest = svg.substr(at, 6);
    if (rest.rfind("&amp;", 0) != 0 && rest.rfind("&lt;", 0) != 0 && rest.rfind("&gt;", 0) != 0 &&
        rest.rfind("&quot;", 0) != 0 && rest.rfind("&apos;", 0) != 0) {
      return false;
    }
  }
  return true;
}

void check_ticks(double lo, double hi, int target) {
  CAPTURE(lo);
  CAPTURE(hi);
  CAPTURE(target);
  const std::vector<double> ticks = nice_ticks(lo, hi, target);
  REQUIRE(ticks.size() >= 2);
  CHECK(ticks.front() <= lo);
  CHECK(ticks.back() >= hi);
  CHECK(static_cast<int>(ticks.size()) >= target / 2);
  CHECK(static_cast<int>(ticks.size()) <= 2 * target + 1);
  const double step = ticks[1] - ticks[0];
  // step = m × 10^k with m in {1, 2, 5}.
  const double magnitude = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double m = step / magnitude;
  CHECK((std::fabs(m - 1) < 1e-9 || std::fabs(m - 2) < 1e-9 || std::fabs(m - 5) < 1e-9));
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    CAPTURE(ticks[i]);
    CHECK(std::fabs(ticks[i] / step - std::round(ticks[i] / step)) < 1e-6);     // a multiple
    if (i > 0) CHECK(std::fabs(ticks[i] - ticks[i - 1] - step) < step * 1e-6);  // evenly spaced
  }
}

PlotSeries series(const std::string& name, std::vector<double> x, std::vector<double> y) {
  PlotSeries s;
  s.name = name;
  s.x = std::move(x);
  s.y = std::move(y);
  s.color = "#1f77b4";
  return s;
}

}  // namespace

TEST_SUITE("zo-log") {
  TEST_CASE("nice_ticks: round values covering the range") {
    check_ticks(0.0, 1.0, 5);
    check_ticks(0.0, 1000.0, 8);
    check_ticks(1.0, 997.0, 8);
    check_ticks(0.3, 0.7, 5);
    check_ticks(0.6931, 0.7012, 6);
    check_ticks(-3.2, 17.9, 6);
    check_ticks(-5e-5, -1e-5, 4);
    check_ticks(2.5e-05, 3.0e-05, 5);
    check_ticks(1e6, 2.3e7, 7);
    check_ticks(10.8, 10.8, 5);  // an empty range is padded
    check_ticks(0.0, 0.0, 5);
    CHECK(nice_ticks(0.0, 1000.0, 6) == std::vector<double>{0, 200, 400, 600, 800, 1000});
    CHECK(nice_ticks(5.0, 1.0, 5) == nice_ticks(1.0, 5.0, 5));  // order does not matter
    CHECK(nice_ticks(0.0, std::numeric_limits<double>::quiet_NaN(), 5).empty());
  }

  TEST_CASE("render_line_plot: a well-formed chart with both axes and a legend") {
    PlotSeries raw = series("train loss", {1, 2, 3, 4, 5}, {0.9, 0.7, 0.8, 0.6, 0.65});
    raw.faint = true;
    PlotSeries ema = series("train loss (EMA)", {1, 2, 3, 4, 5}, {0.9, 0.85, 0.8, 0.75, 0.7});
    PlotSeries acc = series("eval accuracy", {2, 4}, {0.5, 0.625});
    acc.right_axis = true;
    acc.markers = true;
    acc.color = "#d62728";
    PlotOptions options;
    options.title = "OPT & SST-2 <test> \"run\"";
    options.right_label = "eval accuracy";
    const std::string svg = render_line_plot({raw, ema, acc}, options);
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.rfind("</svg>") != std::string::npos);
    CHECK(balanced(svg));
    CHECK(ampersands_escaped(svg));
    CHECK(svg.find("OPT &amp; SST-2 &lt;test&gt; &quot;run&quot;") != std::string::npos);
    CHECK(svg.find(">step</text>") != std::string::npos);
    CHECK(svg.find(">loss</text>") != std::string::npos);
    CHECK(svg.find("rotate(90") != std::string::npos);  // the right axis label
    CHECK(count(svg, "<polyline") == 3);
    CHECK(count(svg, "stroke-opacity=\"0.35\"") == 2);  // the faint line and its legend sample
    CHECK(count(svg, "<circle") == 2 + 1);              // two markers and the legend sample
    CHECK(svg.find(">train loss (EMA)</text>") != std::string::npos);
    CHECK(svg.find(">0.5</text>") != std::string::npos);  // a right-axis tick label
    CHECK(svg.find("fill=\"white\"") != std::string::npos);
  }

  TEST_CASE("render_line_plot: edge cases draw and stay well-formed") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    PlotOptions options;
    options.title = "edge";

    const std::string empty = render_line_plot({}, options);
    CHECK(balanced(empty));
    CHECK(count(empty, "<polyline") == 0);
    CHECK(empty.find(">edge</text>") != std::string::npos);

    const std::string no_points = render_line_plot({series("nothing", {}, {})}, options);
    CHECK(balanced(no_points));
    CHECK(count(no_points, "<polyline") == 0);
    CHECK(no_points.find("nothing") == std::string::npos);  // no legend entry for it

    const std::string one = render_line_plot({series("one", {7}, {0.5})}, options);
    CHECK(balanced(one));
    CHECK(count(one, "<polyline") == 1);
    CHECK(count(one, "<circle") == 1);  // a lone point gets a dot
    CHECK(one.find("nan") == std::string::npos);

    const std::string flat =
        render_line_plot({series("flat", {1, 2, 3}, {2.0, 2.0, 2.0})}, options);
    CHECK(balanced(flat));
    CHECK(flat.find("nan") == std::string::npos);
    CHECK(flat.find(">2</text>") != std::string::npos);

    const std::string holes = render_line_plot({series("holes", {1, 2, 3, 4}, {1.0, nan, inf, 0.5}),
                                                series("all nan", {1, 2}, {nan, nan})},
                                               options);
    CHECK(balanced(holes));
    CHECK(count(holes, "<polyline") == 1);
    CHECK(holes.find("nan") == std::string::npos);
    CHECK(holes.find("inf") == std::string::npos);
  }

  TEST_CASE("render_line_plot: compact tick labels") {
    PlotOptions options;
    const std::string small =
        render_line_plot({series("s", {0, 1000}, {2.5e-05, 3.0e-05})}, options);
    CHECK(small.find(">2.5e-05</text>") != std::string::npos);
    CHECK(small.find(">1000</text>") != std::string::npos);
    CHECK(small.find(">0</text>") != std::string::npos);
  }

  TEST_CASE("render_line_plot: a long noisy series is thinned to the pixel columns") {
    std::vector<double> x, y;
    for (int i = 0; i < 100000; ++i) {
      x.push_back(i);
      y.push_back(1.0 + 0.1 * std::sin(i * 0.7));
    }
    const std::string svg = render_line_plot({series("long", x, y)}, PlotOptions{});
    CHECK(balanced(svg));
    CHECK(svg.size() < 200000);
  }
}  // TEST_SUITE("zo-log")
