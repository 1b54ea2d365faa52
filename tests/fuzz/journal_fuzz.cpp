// libFuzzer target for the run journal's reader (src/zo/journal.cpp): `make fuzz` builds it with
// clang++, ASan and UBSan. Each input is written as a journal.bin in a scratch directory and read
// both ways a run reads it: read_journal() (replay, export: a torn tail ignored) and Journal's
// open for appending (tune --resume: a torn tail truncated away). Either must give records with
// strictly increasing steps, or throw pocket::Error; both must agree, and after the open the file
// holds exactly the good records.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/error.h"
#include "zo/journal.h"

namespace {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/pocket-journal-fuzz-" +
           std::to_string(getpid());
  }();
  return dir;
}

void check_increasing(const std::vector<pocket::JournalRecord>& records) {
  for (std::size_t i = 1; i < records.size(); ++i) {
    if (records[i].step <= records[i - 1].step) __builtin_trap();
  }
}

bool same(const std::vector<pocket::JournalRecord>& a,
          const std::vector<pocket::JournalRecord>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].step != b[i].step || a[i].seed != b[i].seed || a[i].status != b[i].status)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (::mkdir(scratch_dir().c_str(), 0700) != 0) std::abort();
  const std::string path = scratch_dir() + "/journal.bin";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);
  bool read_ok = false;
  std::vector<pocket::JournalRecord> read;
  try {
    read = pocket::read_journal(path);
    check_increasing(read);
    read_ok = true;
  } catch (const pocket::Error&) {
  }
  bool open_ok = false;
  try {
    const pocket::Journal journal(path);
    check_increasing(journal.records());
    // The appending open accepts exactly what the reader accepts, with the same records.
    if (!read_ok || !same(read, journal.records())) __builtin_trap();
    open_ok = true;
  } catch (const pocket::Error&) {
  }
  if (read_ok != open_ok) __builtin_trap();
  if (open_ok) {
    // The torn tail is gone: the file is the header and the good records, and reads the same.
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) std::abort();
    if (static_cast<std::uint64_t>(st.st_size) != 16 + 48 * read.size()) __builtin_trap();
    if (!same(read, pocket::read_journal(path))) __builtin_trap();
  }
  std::remove(path.c_str());  // libFuzzer ends with _Exit: no atexit clean-up
  ::rmdir(scratch_dir().c_str());
  return 0;
}
