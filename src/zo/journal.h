// journal.bin: the append-only record of every step of a run (DESIGN.md, "Run directory").
//
// File: a 16-byte header ("POCKETJ1", u32 version = 1, u32 record size = 48), then fixed-size
// little-endian records of 48 bytes (byte offset: field):
//
//    0: u64 step      8: u64 seed      16: f32 g      20: f32 lr
//   24: f64 loss_plus      32: f64 loss_minus      40: u32 status
//   44: u32 crc32 (io/crc32.h) of bytes 0..43
//
// A torn tail (a partial record, or records whose CRC does not match with no good record after
// them) is what a crash while appending leaves: open() drops it (truncates the file to the last
// good record) and says so. A bad record followed by a good one is corruption, not a crash: an
// error naming the file and the record. Records must have strictly increasing steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket {

// kRejected: L+ or L- was not finite, the step made no update.
enum class StepStatus : std::uint32_t { kAccepted = 0, kRejected = 1 };

struct JournalRecord {
  std::uint64_t step = 0;
  std::uint64_t seed = 0;
  float g = 0.0f;
  float lr = 0.0f;
  double loss_plus = 0.0;
  double loss_minus = 0.0;
  StepStatus status = StepStatus::kAccepted;
};

enum class FsyncPolicy { kEveryStep, kAtSnapshots, kNever };

class Journal {
 public:
  // Opens (creating when absent) `path` for appending. Existing records are read and checked;
  // a torn tail is truncated away (dropped_tail() says how many bytes). The file is locked
  // (flock) while open: a second Journal on it, in any process, is an error.
  explicit Journal(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::vector<JournalRecord>& records() const;
  std::uint64_t dropped_tail() const;
  // Appends one record (one write of the whole record at the end of the good records); fsyncs
  // when `sync`. Throws pocket::Error when its step is not above the last one or the write fails.
  void append(const JournalRecord& record, bool sync);
  void sync();
  const std::string& path() const;

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<JournalRecord> records_;
  std::uint64_t dropped_tail_ = 0;
  std::uint64_t end_ = 0;  // byte offset where the next record goes
};

// The records of a journal file without opening it for writing (replay, export, eval): the same
// checks; a torn tail is ignored, not truncated.
std::vector<JournalRecord> read_journal(const std::string& path);

}  // namespace pocket
