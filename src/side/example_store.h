// The examples a side-tuning server holds for one job: each as its wire bytes (one example of an
// EXAMPLES message, docs/side-protocol.md), in index order. Kept in memory for the epochs (the
// backbone is frozen, so a device's hidden states never change and are sent once), and — with a
// state directory — appended to a file and fsynced before the server acknowledges them, so that a
// restarted server resumes from the last acknowledged example.
//
// File: 16-byte header ("PKSE", u32 version 1, u64 0), then one record per example:
//   u64 index, u32 n, n bytes (the example), u32 CRC-32 of the 12 + n bytes before it.
// A torn or corrupt tail (a crash in the middle of an append) is cut off when the file is opened.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "side/side_task.h"

namespace pocket {

// One example, parsed: n_positions positions, each with a target (class index or next-token id)
// and n_vectors encoded hidden states (act_codec.h), position-major.
struct ExampleView {
  std::int64_t positions = 0;
  const std::int32_t* targets = nullptr;  // unaligned reads are fine on x86-64 and aarch64
  const std::uint8_t* vectors = nullptr;
};

// Parses and checks one example against the task: size exact, targets in range (classes for
// classification, the vocabulary for lm), 1..max_positions positions, every vector one the
// activation codec can write (check_encoded_vector). Throws pocket::Error.
ExampleView parse_example(std::string_view bytes, const SideTaskSpec& spec, std::int64_t vocab);

// Positions an example may hold (an lm example's targets): a bound on what one record can make a
// server allocate.
constexpr std::int64_t kMaxExamplePositions = 65536;

class ExampleStore {
 public:
  // path "": memory only. Otherwise opens (or creates) the file and loads its valid records.
  explicit ExampleStore(std::string path);
  ExampleStore(const ExampleStore&) = delete;
  ExampleStore& operator=(const ExampleStore&) = delete;
  ~ExampleStore();

  // Thread-safe: one connection appends while the job's trainer reads.
  std::int64_t size() const;
  // Appends examples size()..size()+n-1 and makes them durable (fdatasync) before returning.
  void append(const std::string_view* examples, std::int64_t n);
  // The bytes of example i < size(); stable for the store's life.
  std::string_view example(std::int64_t i) const;
  // Records the file had past its valid prefix (cut off at open).
  std::int64_t dropped_bytes() const { return dropped_; }

 private:
  void read_records();

  std::string path_;
  int fd_ = -1;
  mutable std::mutex mutex_;         // guards records_ (the deque's index, not the strings)
  std::deque<std::string> records_;  // a deque: appending never moves the strings already held
  std::int64_t dropped_ = 0;
};

}  // namespace pocket
