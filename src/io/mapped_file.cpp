#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "io/error.h"

namespace pocket {

namespace {

std::string errno_text() { return std::strerror(errno); }

int advice_flag(MapAdvice advice) {
  switch (advice) {
    case MapAdvice::kNormal:
      return MADV_NORMAL;
    case MapAdvice::kSequential:
      return MADV_SEQUENTIAL;
    case MapAdvice::kRandom:
      return MADV_RANDOM;
    case MapAdvice::kWillNeed:
      return MADV_WILLNEED;
    case MapAdvice::kDontNeed:
      return MADV_DONTNEED;
  }
  return MADV_NORMAL;
}

}  // namespace

MappedFile::MappedFile(const std::string& path, MapMode mode) : path_(path), mode_(mode) {
  const bool writable = mode == MapMode::kReadWrite;
  const bool private_copy = mode == MapMode::kCopyOnWrite;
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever; the fstat
  // below then refuses it (and devices, directories) before anything reads. Maps ignore the flag.
  const int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path, "cannot open: " + errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw Error(path, "cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path, S_ISDIR(st.st_mode) ? "is a directory, not a file" : "not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* addr = ::mmap(nullptr, size_, writable || private_copy ? PROT_READ | PROT_WRITE : PROT_READ,
                        private_copy ? MAP_PRIVATE : MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      const std::string why = errno_text();
      ::close(fd);
      throw Error(path, "cannot map " + std::to_string(size_) + " bytes: " + why);
    }
    data_ = static_cast<std::uint8_t*>(addr);
  }
  // A read-only map needs no descriptor once mapped; a read-write one keeps it for fsync in sync().
  if (writable) {
    fd_ = fd;
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() { reset(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mode_(other.mode_),
      fd_(std::exchange(other.fd_, -1)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mode_ = other.mode_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void MappedFile::reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

std::uint8_t* MappedFile::mutable_data() {
  if (mode_ == MapMode::kReadOnly) throw Error(path_, "mapped read-only, cannot be written");
  return data_;
}

void MappedFile::advise(MapAdvice advice, std::size_t offset, std::size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  if (length == 0 || length > size_ - offset) length = size_ - offset;
  // madvise wants a page-aligned start; round the range out to whole pages.
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t begin = offset / page * page;
  const std::size_t end = offset + length;
  // Best effort by contract: an unsupported hint changes nothing that correctness depends on.
  ::madvise(data_ + begin, end - begin, advice_flag(advice));
}

void MappedFile::sync() const {
  // Nothing of a read-only map can be dirty; a copy-on-write map never goes to the file.
  if (mode_ != MapMode::kReadWrite) return;
  if (data_ != nullptr && ::msync(data_, size_, MS_SYNC) != 0) {
    throw Error(path_, "msync failed: " + errno_text());
  }
  if (fd_ >= 0 && ::fsync(fd_) != 0) throw Error(path_, "fsync failed: " + errno_text());
}

}  // namespace pocket
