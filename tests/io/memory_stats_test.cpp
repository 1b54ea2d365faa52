// io/memory_stats: byte counts as people read them, and the process's resident set.
#include <doctest/doctest.h>

#include "io/memory_stats.h"

using namespace pocket;

TEST_SUITE("io-memory") {
  TEST_CASE("format_bytes: three significant digits in decimal units") {
    CHECK(format_bytes(0) == "0 B");
    CHECK(format_bytes(999) == "999 B");
    CHECK(format_bytes(1000) == "1.00 KB");
    CHECK(format_bytes(12'345'678) == "12.3 MB");
    CHECK(format_bytes(312'000'000) == "312 MB");
    CHECK(format_bytes(999'600'000) == "1.00 GB");
    CHECK(format_bytes(1'050'000'000) == "1.05 GB");
  }

  TEST_CASE("rss: peak and current are measured") {
    // Current first: the peak read after it has seen it (under qemu-user the emulator's own
    // memory grows between two calls, so the other order fails there).
    const std::uint64_t current = current_rss_bytes();
    const std::uint64_t peak = peak_rss_bytes();
    CHECK(peak > 1'000'000);  // a running test binary holds more than a megabyte
    if (current != 0) CHECK(current <= peak + 4096 * 256);
  }
}  // TEST_SUITE("io-memory")
