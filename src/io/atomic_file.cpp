#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "io/error.h"

namespace pocket {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// "<path>.tmp-<pid>-<n>": same directory as the target (so rename() is atomic), unique per
// process and per call (threads may write files side by side).
std::string temp_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// The temporary file while it is being written: closed and removed unless commit() ran.
class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target), temp_(temp_name(target)) {
    fd_ = ::open(temp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(target_, "cannot create " + temp_ + ": " + errno_text());
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& target() const { return target_; }

  // fsync, close, rename over the target, fsync the directory.
  void commit() {
    if (::fsync(fd_) != 0) throw Error(target_, "fsync of " + temp_ + " failed: " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(target_, "close of " + temp_ + " failed: " + errno_text());
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      throw Error(target_, "cannot rename " + temp_ + " over it: " + errno_text());
    }
    committed_ = true;
    fsync_directory(parent_dir(target_));
  }

 private:
  std::string target_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// A read-write shared mapping of the temporary file, unmapped on every path out.
class TempMapping {
 public:
  TempMapping(const TempFile& file, std::size_t size) : size_(size) {
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
    if (addr == MAP_FAILED) {
      throw Error(file.target(), "cannot map " + std::to_string(size) + " bytes: " + errno_text());
    }
    data_ = static_cast<std::uint8_t*>(addr);
  }
  ~TempMapping() { ::munmap(data_, size_); }
  TempMapping(const TempMapping&) = delete;
  TempMapping& operator=(const TempMapping&) = delete;
  std::uint8_t* data() const { return data_; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  TempFile file(path);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(file.fd(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path, "write failed: " + errno_text());
    }
    done += static_cast<std::size_t>(n);
  }
  file.commit();
}

void write_file_atomic_mapped(
    const std::string& path, std::size_t size,
    const std::function<void(std::uint8_t* data, std::size_t size)>& fill) {
  TempFile file(path);
  if (size > 0) {
    if (::ftruncate(file.fd(), static_cast<off_t>(size)) != 0) {
      throw Error(path, "cannot size to " + std::to_string(size) + " bytes: " + errno_text());
    }
    // Reserve the blocks now: a store into a sparse mapping on a full disk is a SIGBUS, this is
    // an error message.
    const int err = ::posix_fallocate(file.fd(), 0, static_cast<off_t>(size));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
      throw Error(path, "cannot reserve " + std::to_string(size) + " bytes: " + std::strerror(err));
    }
    TempMapping map(file, size);
    fill(map.data(), size);
    if (::msync(map.data(), size, MS_SYNC) != 0) throw Error(path, "msync failed: " + errno_text());
  } else {
    fill(nullptr, 0);
  }
  file.commit();
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(dir, "cannot open directory: " + errno_text());
  // Some file systems cannot fsync a directory (EINVAL); there is nothing more to make durable.
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const std::string why = errno_text();
    ::close(fd);
    throw Error(dir, "fsync of directory failed: " + why);
  }
  ::close(fd);
}

}  // namespace pocket

namespace pocket {

void create_directory_atomic(const std::string& dir,
                             const std::function<void(const std::string& temp)>& fill) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path target = fs::path(dir).lexically_normal();
  if (fs::exists(target, error) &&
      !(fs::is_directory(target, error) && fs::is_empty(target, error))) {
    throw Error(dir, "already exists");
  }
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(parent, error);
  const fs::path temp = parent / ("." + target.filename().string() + ".partial-" +
                                  std::to_string(::getpid()));
  fs::remove_all(temp, error);
  if (!fs::create_directory(temp, error)) {
    throw Error(temp.string(), "cannot create: " + error.message());
  }
  try {
    fill(temp.string());
    fsync_directory(temp.string());
    if (fs::exists(target, error)) fs::remove(target, error);  // the empty directory
    fs::rename(temp, target, error);
    if (error) throw Error(dir, "cannot create: " + error.message());
    fsync_directory(parent.string());
  } catch (...) {
    fs::remove_all(temp, error);
    throw;
  }
}

}  // namespace pocket
