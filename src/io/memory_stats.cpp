#include "io/memory_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iterator>

namespace pocket {

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
#ifdef __APPLE__
  return static_cast<std::uint64_t>(usage.ru_maxrss);  // bytes on macOS
#else
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux and Android
#endif
}

std::uint64_t current_rss_bytes() {
  // /proc/self/statm: "size resident shared text lib data dt", in pages.
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long long size_pages = 0, resident_pages = 0;
  const int fields = std::fscanf(statm, "%llu %llu", &size_pages, &resident_pages);
  std::fclose(statm);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (fields != 2 || page_size <= 0) return 0;
  return resident_pages * static_cast<std::uint64_t>(page_size);
}

// Decimal units (1 MB = 10^6 bytes), three significant digits: "512 B", "12.3 MB", "1.05 GB".
std::string format_bytes(std::uint64_t bytes) {
  static const char* const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = 0;
  // 999.5 and up prints as "1000" at three digits: move to the next unit instead.
  while (value >= 999.5 && unit + 1 < static_cast<int>(std::size(units))) {
    value /= 1000.0;
    ++unit;
  }
  const char* format = value < 9.995 ? "%.2f" : value < 99.95 ? "%.1f" : "%.0f";
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return std::string(text) + " " + units[unit];
}

}  // namespace pocket
