// Small, durable file-system helpers shared by every component.
//
// `WriteFileAtomically` is the only way Vigil writes a file that matters: temporary file in
// the same directory, write, fsync, rename over the target, fsync the directory. After a
// crash (kill -9 or power loss) the target holds either the old or the new bytes, never a mix.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "common/bytes.h"
#include "common/error.h"

namespace vigil {

// A file descriptor closed when it goes out of scope (movable, not copyable).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

Status WriteFileAtomically(const std::filesystem::path& path, ByteSpan contents, mode_t mode);

// Reads a whole file, refusing files larger than `size_bytes_max` (named by the caller).
Expected<Bytes> ReadFile(const std::filesystem::path& path, size_t size_bytes_max);

// fsync of a directory (after creating, renaming or deleting an entry in it) and of a file.
Status SyncDirectory(const std::filesystem::path& directory);
Status SyncFile(const std::filesystem::path& path);

// Makes a file written elsewhere durable under its final name: fsync it, rename it over `to`
// (same file system), fsync `to`'s directory. After a crash `to` is absent, old or complete.
Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to);

// Creates the directory (and parents) if missing, with the given mode for new directories.
Status EnsureDirectory(const std::filesystem::path& path, mode_t mode);

}  // namespace vigil
