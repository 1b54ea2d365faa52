// RunLog: train and eval points land in log.jsonl and loss.csv with full precision; reopening
// with a smaller last step cuts both files back and drops a torn last line; appending then
// continues; the plot is written.
#include "zo/run_log.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/error.h"
#include "test_util.h"

using namespace pocket;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void append_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Steps 1..n, an eval at every third step.
void write_run(RunLog& log, int n) {
  for (int step = 1; step <= n; ++step) {
    log.train({step, 0.7 - 0.01 * step, 0.7 - 0.005 * step, step == 2});
    if (step % 3 == 0) log.eval({step, 0.5 + 0.01 * step, "accuracy"});
  }
}

}  // namespace

TEST_SUITE("zo-log") {
  TEST_CASE("run log: lines of log.jsonl and loss.csv") {
    test::TempDir dir;
    RunLog log(dir.path(), 0);
    log.event(R"({"event":"start","steps":6})");
    write_run(log, 6);
    log.train({7, 1.0 / 3.0, std::numeric_limits<double>::quiet_NaN(), true});

    const auto jsonl = lines_of(read_text(dir.file("log.jsonl")));
    REQUIRE(jsonl.size() == 1 + 7 + 2);
    CHECK(jsonl[0] == R"({"event":"start","steps":6})");
    CHECK(jsonl[1] ==
          R"({"event":"train","step":1,"loss":0.69,"loss_ema":0.695,"rejected":false})");
    CHECK(jsonl[4] == R"({"event":"eval","step":3,"accuracy":0.53})");
    const auto last = nlohmann::json::parse(jsonl.back());
    CHECK(last["loss"].get<double>() == 1.0 / 3.0);  // full precision
    CHECK(last["loss_ema"].is_null());               // JSON has no NaN
    CHECK(last["rejected"] == true);

    const auto csv = lines_of(read_text(dir.file("loss.csv")));
    REQUIRE(csv.size() == 1 + 7 + 2);
    CHECK(csv[0] == "step,loss,loss_ema,eval");
    CHECK(csv[1] == "1,0.69,0.695,");
    CHECK(csv[4] == "3,,,0.53");
    CHECK(csv.back() == "7,0.3333333333333333,nan,");

    CHECK_THROWS_AS(log.event("not json"), Error);
    CHECK_THROWS_AS(log.event("[1,2]"), Error);
  }

  TEST_CASE("run log: reopening cuts back to the last step and drops a torn line") {
    test::TempDir dir;
    {
      RunLog log(dir.path(), 0);
      log.event(R"({"event":"start"})");
      write_run(log, 9);
      log.event(R"({"event":"end","step":9})");
    }
    const std::string full_csv = read_text(dir.file("loss.csv"));
    // A crash in the middle of the next lines.
    append_text(dir.file("log.jsonl"), R"({"event":"train","step":10,"lo)");
    append_text(dir.file("loss.csv"), "10,0.6");

    {
      RunLog log(dir.path(), 6);
      REQUIRE(log.train_points().size() == 6);
      CHECK(log.train_points().back().step == 6);
      CHECK(log.train_points()[1].rejected);
      CHECK(log.train_points()[3].loss == 0.7 - 0.01 * 4);
      REQUIRE(log.eval_points().size() == 2);
      CHECK(log.eval_points()[1].step == 6);
      CHECK(log.eval_points()[1].metric_name == "accuracy");
      CHECK(log.eval_points()[1].metric == 0.5 + 0.01 * 6);

      const auto jsonl = lines_of(read_text(dir.file("log.jsonl")));
      REQUIRE(jsonl.size() == 1 + 6 + 2);  // start, steps 1..6, evals at 3 and 6; no end
      CHECK(jsonl[0] == R"({"event":"start"})");
      CHECK(jsonl.back() == R"({"event":"eval","step":6,"accuracy":0.56})");
      // The kept loss.csv is the prefix of the full one up to step 6.
      const std::string csv = read_text(dir.file("loss.csv"));
      CHECK(full_csv.rfind(csv, 0) == 0);
      CHECK(lines_of(csv).back() == "6,,,0.56");

      // Resume: the appended lines follow the kept ones.
      log.event(R"({"event":"resume","step":6})");
      log.train({7, 0.6, 0.65, false});
      CHECK(log.train_points().size() == 7);
    }
    CHECK(dir.names() == std::set<std::string>{"log.jsonl", "loss.csv"});  // no temporary left

    RunLog reopened(dir.path(), 100);
    CHECK(reopened.train_points().size() == 7);
    CHECK(reopened.eval_points().size() == 2);
    const auto jsonl = lines_of(read_text(dir.file("log.jsonl")));
    CHECK(jsonl[jsonl.size() - 2] == R"({"event":"resume","step":6})");
    CHECK(jsonl.back() ==
          R"({"event":"train","step":7,"loss":0.6,"loss_ema":0.65,"rejected":false})");
    const auto csv = lines_of(read_text(dir.file("loss.csv")));
    REQUIRE(csv.size() == 1 + 7 + 2);
    CHECK(csv.back() == "7,0.6,0.65,");
  }

  TEST_CASE("run log: a torn header and a missing log.jsonl start clean") {
    test::TempDir dir;
    append_text(dir.file("loss.csv"), "step,lo");
    RunLog log(dir.path(), 0);
    CHECK(read_text(dir.file("loss.csv")) == "step,loss,loss_ema,eval\n");
    CHECK(log.train_points().empty());
    log.train({1, 0.5, 0.5, false});
    CHECK(read_text(dir.file("loss.csv")) == "step,loss,loss_ema,eval\n1,0.5,0.5,\n");
  }

  TEST_CASE("run log: plot writes loss.svg") {
    test::TempDir dir;
    RunLog log(dir.path(), 0);
    write_run(log, 30);
    log.plot("SST-2 & OPT-125m");
    const std::string svg = read_text(dir.file("loss.svg"));
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("SST-2 &amp; OPT-125m") != std::string::npos);
    CHECK(svg.find(">eval accuracy</text>") != std::string::npos);  // the right axis label
    std::size_t polylines = 0;
    for (std::size_t at = svg.find("<polyline"); at != std::string::npos;
         at = svg.find("<polyline", at + 1)) {
      ++polylines;
    }
    CHECK(polylines == 3);

    // An eval loss shares the left axis: no right axis label.
    test::TempDir lm_dir;
    RunLog lm_log(lm_dir.path(), 0);
    lm_log.train({1, 3.0, 3.0, false});
    lm_log.eval({1, 2.9, "loss"});
    lm_log.plot("lm");
    const std::string lm_svg = read_text(lm_dir.file("loss.svg"));
    CHECK(lm_svg.find("rotate(90") == std::string::npos);
    CHECK(lm_svg.find(">eval loss</text>") != std::string::npos);  // its legend entry
  }
}  // TEST_SUITE("zo-log")
