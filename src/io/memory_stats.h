// What this process holds in memory, and how to print a byte count: for progress lines, run
// results and the benchmarks' peak-RSS columns.
#pragma once

#include <cstdint>
#include <string>

namespace pocket {

// Peak and current resident set size of this process in bytes (getrusage / /proc/self/statm).
std::uint64_t peak_rss_bytes();
std::uint64_t current_rss_bytes();

// "12.3 MB", "1.05 GB": for progress lines and reports.
std::string format_bytes(std::uint64_t bytes);

}  // namespace pocket
