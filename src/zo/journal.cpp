#include "zo/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/atomic_file.h"
#include "io/crc32.h"
#include "io/error.h"

namespace pocket {

namespace {

constexpr char kMagic[8] = {'P', 'O', 'C', 'K', 'E', 'T', 'J', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kRecordSize = 48;
constexpr std::size_t kCrcOffset = 44;  // the CRC covers bytes [0, 44) of a record

std::string errno_text() { return std::strerror(errno); }

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int b = 0; b < 4; ++b) p[b] = static_cast<std::uint8_t>(v >> (8 * b));
}
void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int b = 0; b < 8; ++b) p[b] = static_cast<std::uint8_t>(v >> (8 * b));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int b = 0; b < 4; ++b) v |= static_cast<std::uint32_t>(p[b]) << (8 * b);
  return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<std::uint64_t>(p[b]) << (8 * b);
  return v;
}

std::string header_bytes() {
  std::uint8_t header[kHeaderSize];
  std::memcpy(header, kMagic, sizeof(kMagic));
  put_u32(header + 8, kVersion);
  put_u32(header + 12, kRecordSize);
  return std::string(reinterpret_cast<const char*>(header), kHeaderSize);
}

// The 48-byte layout of journal.h.
void encode_record(const JournalRecord& record, std::uint8_t* out) {
  put_u64(out + 0, record.step);
  put_u64(out + 8, record.seed);
  put_u32(out + 16, std::bit_cast<std::uint32_t>(record.g));
  put_u32(out + 20, std::bit_cast<std::uint32_t>(record.lr));
  put_u64(out + 24, std::bit_cast<std::uint64_t>(record.loss_plus));
  put_u64(out + 32, std::bit_cast<std::uint64_t>(record.loss_minus));
  put_u32(out + 40, static_cast<std::uint32_t>(record.status));
  put_u32(out + kCrcOffset, crc32(out, kCrcOffset));
}

bool record_crc_ok(const std::uint8_t* in) {
  return get_u32(in + kCrcOffset) == crc32(in, kCrcOffset);
}

JournalRecord decode_record(const std::uint8_t* in) {
  JournalRecord record;
  record.step = get_u64(in + 0);
  record.seed = get_u64(in + 8);
  record.g = std::bit_cast<float>(get_u32(in + 16));
  record.lr = std::bit_cast<float>(get_u32(in + 20));
  record.loss_plus = std::bit_cast<double>(get_u64(in + 24));
  record.loss_minus = std::bit_cast<double>(get_u64(in + 32));
  record.status = static_cast<StepStatus>(get_u32(in + 40));
  return record;
}

struct ParsedJournal {
  std::vector<JournalRecord> records;
  std::uint64_t good_bytes = 0;  // header + good records; the rest of the file is a torn tail
};

// Checks the header and the records. The torn tail starts at the first record that is partial or
// fails its CRC; every record after it must be bad too (a crash tears only the end of the file),
// else the file is corrupt.
ParsedJournal parse_journal(const std::string& bytes, const std::string& path) {
  if (bytes.size() < kHeaderSize) {
    throw Error(path, "not a pocket journal: " + std::to_string(bytes.size()) +
                          " bytes, shorter than the 16-byte header");
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    throw Error(path, "not a pocket journal (the file does not start with POCKETJ1)");
  }
  if (const std::uint32_t version = get_u32(data + 8); version != kVersion) {
    throw Error(path, "journal version " + std::to_string(version) + ", this build reads version " +
                          std::to_string(kVersion));
  }
  if (const std::uint32_t size = get_u32(data + 12); size != kRecordSize) {
    throw Error(path, "journal record size " + std::to_string(size) + ", expected " +
                          std::to_string(kRecordSize));
  }

  ParsedJournal parsed;
  const std::size_t n_full = (bytes.size() - kHeaderSize) / kRecordSize;
  std::size_t first_bad = n_full;
  for (std::size_t i = 0; i < n_full; ++i) {
    const std::size_t offset = kHeaderSize + i * kRecordSize;
    const std::uint8_t* in = data + offset;
    if (!record_crc_ok(in)) {
      if (first_bad == n_full) first_bad = i;
      continue;
    }
    const std::string where =
        "record " + std::to_string(i) + " (byte " + std::to_string(offset) + ")";
    if (first_bad != n_full) {
      throw Error(path, "record " + std::to_string(first_bad) + " (byte " +
                            std::to_string(kHeaderSize + first_bad * kRecordSize) +
                            ") fails its checksum but " + where +
                            " after it is good: the journal is corrupt, not torn");
    }
    const JournalRecord record = decode_record(in);
    if (record.status != StepStatus::kAccepted && record.status != StepStatus::kRejected) {
      throw Error(path, where + ": unknown step status " +
                            std::to_string(static_cast<std::uint32_t>(record.status)));
    }
    if (!parsed.records.empty() && record.step <= parsed.records.back().step) {
      throw Error(path, where + ": step " + std::to_string(record.step) + " after step " +
                            std::to_string(parsed.records.back().step) + " (steps must increase)");
    }
    parsed.records.push_back(record);
  }
  parsed.good_bytes = kHeaderSize + parsed.records.size() * kRecordSize;
  return parsed;
}

std::string read_whole_file(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(path, "cannot stat: " + errno_text());
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path, "read failed: " + errno_text());
    }
    if (n == 0) break;  // shrunk since fstat: what was read is the file
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace

Journal::Journal(const std::string& path) : path_(path) {
  // Created whole (header written to a temporary name, synced, renamed, directory synced), so a
  // crash never leaves a journal without its header.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) write_file_atomic(path, header_bytes());

  fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) throw Error(path, "cannot open the journal: " + errno_text());
  try {
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      throw Error(path, errno == EWOULDBLOCK ? std::string("journal in use by another writer")
                                             : "cannot lock the journal: " + errno_text());
    }
    const std::string bytes = read_whole_file(fd_, path);
    ParsedJournal parsed = parse_journal(bytes, path);
    records_ = std::move(parsed.records);
    end_ = parsed.good_bytes;
    if (end_ < bytes.size()) {
      if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
        throw Error(path, "cannot truncate the torn tail: " + errno_text());
      }
      sync();
      dropped_tail_ = bytes.size() - end_;
    }
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

Journal::~Journal() { ::close(fd_); }  // also releases the lock

const std::vector<JournalRecord>& Journal::records() const { return records_; }

std::uint64_t Journal::dropped_tail() const { return dropped_tail_; }

const std::string& Journal::path() const { return path_; }

// The record goes at end_, not at the file's end: if an earlier append failed half-way, its
// partial bytes (fewer than a record) are overwritten by the next append rather than left in the
// middle of the journal; after a crash they are a torn tail.
void Journal::append(const JournalRecord& record, bool sync) {
  if (!records_.empty() && record.step <= records_.back().step) {
    throw Error(path_, "cannot append step " + std::to_string(record.step) + " after step " +
                           std::to_string(records_.back().step) + " (steps must increase)");
  }
  std::uint8_t bytes[kRecordSize];
  encode_record(record, bytes);
  std::size_t done = 0;
  while (done < kRecordSize) {
    const ssize_t n =
        ::pwrite(fd_, bytes + done, kRecordSize - done, static_cast<off_t>(end_ + done));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      throw Error(path_, "cannot append step " + std::to_string(record.step) + ": " +
                             (n < 0 ? errno_text() : std::string("nothing written")));
    }
    done += static_cast<std::size_t>(n);
  }
  end_ += kRecordSize;
  records_.push_back(record);
  if (sync) this->sync();
}

void Journal::sync() {
  if (::fdatasync(fd_) != 0) throw Error(path_, "fsync failed: " + errno_text());
}

std::vector<JournalRecord> read_journal(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, "cannot open the journal: " + errno_text());
  std::string bytes;
  try {
    bytes = read_whole_file(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return parse_journal(bytes, path).records;
}

}  // namespace pocket
