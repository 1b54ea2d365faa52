// Crash-safe file replacement: write to a temporary name in the same directory, fsync it, rename
// it over the target, fsync the directory. A reader (or a crash at any instant) sees either the
// old file or the complete new one, never a half-written file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pocket {

// Writes `bytes` to `path` atomically. Throws pocket::Error naming `path` on failure, after
// removing the temporary file.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Creates `path` atomically with exactly `size` bytes: the temporary file is sized, mapped
// read-write and handed to fill(data, size); then it is synced and renamed. If fill throws, the
// temporary file is removed and the exception propagates; the target is untouched.
void write_file_atomic_mapped(const std::string& path, std::size_t size,
                              const std::function<void(std::uint8_t* data, std::size_t size)>& fill);

// Creates the directory `dir` atomically: fill(temp) builds it under a temporary sibling name,
// which is then synced and renamed to `dir`. `dir` must not exist or be an empty directory
// (otherwise pocket::Error "<dir>: already exists"); if fill throws, the temporary directory is
// removed and the exception propagates.
void create_directory_atomic(const std::string& dir,
                             const std::function<void(const std::string& temp)>& fill);

// fsync of a directory (after a rename into it). Throws pocket::Error on failure.
void fsync_directory(const std::string& dir);

}  // namespace pocket
