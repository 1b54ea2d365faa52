// Progress: plain lines carry the step and the loss, quiet writes nothing, the terminal bar
// redraws with '\r'; the byte and duration formats; RSS is measured.
#include "zo/progress.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <limits>
#include <string>

using namespace pocket;

namespace {

// What a Progress wrote to a file, after it is gone (its destructor finishes the line).
std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  return text;
}

}  // namespace

TEST_SUITE("zo-log") {
  TEST_CASE("progress: plain mode prints the first and the last step with the loss") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    {
      Progress progress(5, 1, /*quiet=*/false, f, /*terminal=*/false);
      for (int step = 1; step <= 5; ++step) progress.update(step, 0.6931 - 0.01 * step);
    }
    const std::string text = read_all(f);
    std::fclose(f);
    CHECK(text.find("step 1/5") != std::string::npos);
    CHECK(text.find("step 5/5") != std::string::npos);
    CHECK(text.find("loss 0.6831") != std::string::npos);
    CHECK(text.find("loss 0.6431") != std::string::npos);
    CHECK(text.find("RSS ") != std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    // Steps 2..4 come within the plain interval of step 1: no line for them.
    CHECK(text.find("step 3/5") == std::string::npos);
    CHECK(text.back() == '\n');
  }

  TEST_CASE("progress: messages come out whole in plain mode") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    {
      Progress progress(10, 1, false, f, false);
      progress.update(1, 1.5);
      progress.message("eval step 1: accuracy 0.5");
      progress.finish();
      progress.finish();  // idempotent
    }
    const std::string text = read_all(f);
    std::fclose(f);
    CHECK(text.find("eval step 1: accuracy 0.5\n") != std::string::npos);
    CHECK(text.find("step 1/10") != std::string::npos);
  }

  TEST_CASE("progress: quiet writes nothing") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    {
      Progress progress(3, 1, /*quiet=*/true, f, /*terminal=*/true);
      for (int step = 1; step <= 3; ++step) progress.update(step, 0.5);
      progress.message("not shown");
      progress.finish();
    }
    CHECK(read_all(f).empty());
    std::fclose(f);
  }

  TEST_CASE("progress: terminal mode redraws one line with carriage returns") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    {
      Progress progress(1000, 1, false, f, /*terminal=*/true);
      for (int step = 1; step <= 1000; ++step) progress.update(step, 0.25);
      progress.message("eval: accuracy 0.75");
    }
    const std::string text = read_all(f);
    std::fclose(f);
    CHECK(text.find('\r') != std::string::npos);
    CHECK(text.find("step 1000/1000 [") != std::string::npos);
    CHECK(text.find("100%") != std::string::npos);
    CHECK(text.find("loss 0.2500") != std::string::npos);
    CHECK(text.find("eval: accuracy 0.75\n") != std::string::npos);
    // At most ~10 redraws a second: a thousand fast steps draw a handful of bars, not 1000.
    std::size_t redraws = 0;
    for (const char c : text) redraws += c == '\r';
    CHECK(redraws < 100);
    // Not a tty: 80 columns, one short so that the terminal does not wrap.
    std::size_t begin = 0;
    while ((begin = text.find('\r', begin)) != std::string::npos) {
      const std::size_t end = text.find_first_of("\r\n", begin + 1);
      const std::string bar = text.substr(begin + 1, end - begin - 1);
      CHECK(bar.size() <= 79 + 3);  // + the 3 bytes of the erase-line sequence
      begin = begin + 1;
    }
    CHECK(text.back() == '\n');  // the bar line is finished
  }

  TEST_CASE("format_duration") {
    CHECK(format_duration(0) == "0:00");
    CHECK(format_duration(59.4) == "0:59");
    CHECK(format_duration(245) == "4:05");
    CHECK(format_duration(3723) == "1:02:03");
    CHECK(format_duration(100 * 3600) == "100:00:00");
    CHECK(format_duration(-1) == "--:--");
    CHECK(format_duration(std::numeric_limits<double>::infinity()) == "--:--");
  }
}  // TEST_SUITE("zo-log")
