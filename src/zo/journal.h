// journal.bin: the append-only record of every step of a run (DESIGN.md, "Run directory").
//
// File: a 16-byte header ("POCKETJ1", u32 version = 1, u32 record size = 48), then fixed-size
// little-endian records:
//
//   u64 step      u64 seed      f32 g      f32 lr      f64 loss_plus   f64 loss_minus
//   u32 status    u32 reserved(0)    u32 crc32 of the preceding 44 bytes    u32 0
//
// A torn tail (a partial record, or a record whose CRC does not match) is what a crash while
// appending leaves: open() drops it (truncates the file to the last good record) and says so.
// A bad record followed by good ones is corruption, not a crash: an error naming the file and the
// record. Records must have strictly increasing steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pocket {

enum class StepStatus : std::uint32_t { kAccepted = 0, kRejected = 1 };  // rejected: loss not finite

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
  // a torn tail is truncated away (dropped_tail() says how many bytes).
  explicit Journal(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::vector<JournalRecord>& records() const;
  std::uint64_t dropped_tail() const;
  // Appends one record (write(2) of the whole record); fsyncs when `sync`.
  void append(const JournalRecord& record, bool sync);
  void sync();
  const std::string& path() const;
};

// The records of a journal file without opening it for writing (replay, export, eval): the same
// checks; a torn tail is ignored, not truncated.
std::vector<JournalRecord> read_journal(const std::string& path);

}  // namespace pocket
