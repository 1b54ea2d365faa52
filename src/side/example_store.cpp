#include "side/example_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "io/crc32.h"
#include "io/error.h"
#include "side/act_codec.h"

namespace pocket {

namespace {

constexpr char kMagic[4] = {'P', 'K', 'S', 'E'};
constexpr std::size_t kHeader = 16;

template <class T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(path, std::string("write failed: ") + std::strerror(errno));
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

ExampleView parse_example(std::string_view bytes, const SideTaskSpec& spec, std::int64_t vocab) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (bytes.size() < 4) throw Error("example", "shorter than its position count");
  ExampleView v;
  v.positions = load<std::uint32_t>(p);
  if (v.positions < 1 || v.positions > kMaxExamplePositions) {
    throw Error("example", std::to_string(v.positions) + " positions (1.." +
                               std::to_string(kMaxExamplePositions) + ")");
  }
  const std::size_t vb = act_vector_bytes(spec.hidden, spec.act_bits);
  const std::size_t want = 4 + 4 * static_cast<std::size_t>(v.positions) +
                           static_cast<std::size_t>(v.positions * spec.n_vectors) * vb;
  if (bytes.size() != want) {
    throw Error("example", std::to_string(bytes.size()) + " bytes, " + std::to_string(want) +
                               " expected for " + std::to_string(v.positions) + " position(s)");
  }
  if (!spec.lm && v.positions != 1) throw Error("example", "a classification example has one position");
  v.targets = reinterpret_cast<const std::int32_t*>(p + 4);
  v.vectors = p + 4 + 4 * v.positions;
  const std::int64_t limit = spec.lm ? vocab : static_cast<std::int64_t>(spec.candidates.size());
  for (std::int64_t i = 0; i < v.positions; ++i) {
    const std::int32_t t = load<std::int32_t>(p + 4 + 4 * i);
    if (t < 0 || t >= limit) {
      throw Error("example", "target " + std::to_string(t) + " out of range 0.." + std::to_string(limit - 1));
    }
  }
  // Every vector must decode to finite values: refused here, at upload, not epochs later in the
  // trainer.
  for (std::int64_t i = 0; i < v.positions * spec.n_vectors; ++i) {
    check_encoded_vector(v.vectors + static_cast<std::size_t>(i) * vb, spec.hidden, spec.act_bits);
  }
  return v;
}

ExampleStore::ExampleStore(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(path_, std::string("cannot open: ") + std::strerror(errno));
  try {
    read_records();
  } catch (...) {
    ::close(fd_);  // the destructor does not run for a constructor that throws
    fd_ = -1;
    throw;
  }
}

// Reads the valid records of the open file, cuts off a torn tail, positions for appending.
void ExampleStore::read_records() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw Error(path_, "cannot stat");
  std::vector<std::uint8_t> file(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < file.size()) {
    const ssize_t r = ::pread(fd_, file.data() + got, file.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw Error(path_, "cannot read");
    got += static_cast<std::size_t>(r);
  }
  std::size_t valid = kHeader;
  if (file.size() < kHeader) {
    // New (or torn before its header was whole): start over with a header.
    std::uint8_t header[kHeader] = {};
    std::memcpy(header, kMagic, 4);
    header[4] = 1;
    if (::ftruncate(fd_, 0) != 0) throw Error(path_, "cannot truncate");
    if (::pwrite(fd_, header, kHeader, 0) != static_cast<ssize_t>(kHeader)) throw Error(path_, "cannot write");
    if (::fdatasync(fd_) != 0) throw Error(path_, "fsync failed");
  } else {
    if (std::memcmp(file.data(), kMagic, 4) != 0 || load<std::uint32_t>(file.data() + 4) != 1) {
      throw Error(path_, "not a pocket example store (bad magic or version)");
    }
    std::size_t at = kHeader;
    while (at + 12 <= file.size()) {
      const std::uint64_t index = load<std::uint64_t>(file.data() + at);
      const std::uint32_t n = load<std::uint32_t>(file.data() + at + 8);
      if (at + 12 + n + 4 > file.size()) break;
      if (crc32(file.data() + at, 12 + n) != load<std::uint32_t>(file.data() + at + 12 + n)) break;
      if (index != records_.size()) break;
      records_.emplace_back(reinterpret_cast<const char*>(file.data() + at + 12), n);
      at += 12 + n + 4;
    }
    valid = at;
    dropped_ = static_cast<std::int64_t>(file.size() - valid);
    if (dropped_ > 0 && ::ftruncate(fd_, static_cast<off_t>(valid)) != 0) {
      throw Error(path_, "cannot cut off the torn tail");
    }
  }
  if (::lseek(fd_, static_cast<off_t>(valid), SEEK_SET) < 0) throw Error(path_, "cannot seek");
}

ExampleStore::~ExampleStore() {
  if (fd_ >= 0) ::close(fd_);
}

void ExampleStore::append(const std::string_view* examples, std::int64_t n) {
  if (fd_ >= 0) {
    std::string buf;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint64_t index = static_cast<std::uint64_t>(size() + i);
      const std::uint32_t len = static_cast<std::uint32_t>(examples[i].size());
      const std::size_t start = buf.size();
      buf.append(reinterpret_cast<const char*>(&index), 8);
      buf.append(reinterpret_cast<const char*>(&len), 4);
      buf.append(examples[i]);
      const std::uint32_t crc = crc32(buf.data() + start, buf.size() - start);
      buf.append(reinterpret_cast<const char*>(&crc), 4);
    }
    const off_t before = ::lseek(fd_, 0, SEEK_CUR);
    try {
      write_all(fd_, buf.data(), buf.size(), path_);
      if (::fdatasync(fd_) != 0) throw Error(path_, std::string("fsync failed: ") + std::strerror(errno));
    } catch (...) {
      // Leave no half-written record for the next append to follow.
      if (::ftruncate(fd_, before) == 0) ::lseek(fd_, before, SEEK_SET);
      throw;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t i = 0; i < n; ++i) records_.emplace_back(examples[i]);
}

std::int64_t ExampleStore::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::int64_t>(records_.size());
}

std::string_view ExampleStore::example(std::int64_t i) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_.at(static_cast<std::size_t>(i));
}

}  // namespace pocket
