#include "integrity/scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "common/file.h"
#include "common/limits.h"

namespace vigil::integrity {
namespace {

Error SystemError(std::string_view what, std::string_view path) {
  return Error(ErrorCode::kIOError,
               std::string(what) + " " + std::string(path) + ": " + std::strerror(errno));
}

// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no link anywhere on the way, nothing outside
// `directory_fd`. Kernels before 5.6 lack openat2: O_NOFOLLOW (last component only) there.
int OpenBeneath(int directory_fd, const char* relative, uint64_t flags) {
  static std::atomic<bool> openat2_missing{false};
  if (!openat2_missing.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = flags | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    long fd = ::syscall(SYS_openat2, directory_fd, relative, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    openat2_missing.store(true, std::memory_order_relaxed);
  }
  return ::openat(directory_fd, relative, static_cast<int>(flags) | O_NOFOLLOW | O_CLOEXEC);
}

uint32_t PermissionBits(const struct stat& status) {
  return static_cast<uint32_t>(status.st_mode & 07777);
}

FileRecord RecordOf(std::string relative, const struct stat& status, FileKind kind) {
  return FileRecord{
      .path = std::move(relative),
      .kind = kind,
      .size_bytes = kind == FileKind::kOther ? 0 : static_cast<uint64_t>(status.st_size),
      .mode = PermissionBits(status),
      .owner_uid = status.st_uid,
      .owner_gid = status.st_gid,
      .sha256 = {}};
}

// A link's record: its target text hashed (readlinkat on the link itself, never followed).
Expected<FileRecord> LinkRecord(int directory_fd, const char* name, std::string relative,
                                const struct stat& status) {
  char target[PATH_MAX];
  ssize_t length = ::readlinkat(directory_fd, name, target, sizeof(target));
  if (length < 0) return std::unexpected(SystemError("readlink", relative));
  FileRecord record = RecordOf(std::move(relative), status, FileKind::kSymlink);
  ByteSpan text(reinterpret_cast<const uint8_t*>(target), static_cast<size_t>(length));
  record.size_bytes = text.size();
  record.sha256 = crypto::Sha256(text);
  return record;
}

// Opens a file for hashing: O_NONBLOCK so a fifo never blocks; O_NOATIME where allowed (no
// inode write per scanned file).
int OpenForHashing(int root_fd, const std::string& relative) {
  int fd = OpenBeneath(root_fd, relative.c_str(), O_RDONLY | O_NONBLOCK | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = OpenBeneath(root_fd, relative.c_str(), O_RDONLY | O_NONBLOCK);
  return fd;
}

// The record of an open descriptor: fstat, then the content hash for a regular file.
Expected<FileRecord> RecordOfOpenFile(int fd, std::string relative, std::span<uint8_t> buffer,
                                      crypto::Sha256Hasher& hasher) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) return std::unexpected(SystemError("fstat", relative));
  if (!S_ISREG(status.st_mode)) return RecordOf(std::move(relative), status, FileKind::kOther);
  FileRecord record = RecordOf(std::move(relative), status, FileKind::kRegular);
  uint64_t size = 0;
  for (;;) {
    ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(SystemError("read", record.path));
    }
    if (got == 0) break;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(got)));
    size += static_cast<uint64_t>(got);
  }
  // What was hashed is what is recorded, even if a writer changed the size meanwhile.
  record.size_bytes = size;
  record.sha256 = hasher.Finish();
  return record;
}

struct PendingFile {
  std::string relative;
};

class TreeWalker {
 public:
  TreeWalker(const ScanOptions& options)
      : excluded_(options.excluded.begin(), options.excluded.end()) {}

  Status Walk(int directory_fd, const std::string& prefix, size_t depth) {
    if (depth > limits::kIntegrityScanDepthMax) {
      return Fail(ErrorCode::kResourceExhausted,
                  "directory " + prefix + " is nested deeper than " +
                      std::to_string(limits::kIntegrityScanDepthMax) + " levels");
    }
    int listing_fd = ::dup(directory_fd);
    if (listing_fd < 0) return std::unexpected(SystemError("dup", prefix));
    DIR* directory = ::fdopendir(listing_fd);
    if (directory == nullptr) {
      ::close(listing_fd);
      return std::unexpected(SystemError("opendir", prefix));
    }
    struct Closer {
      DIR* d;
      ~Closer() { ::closedir(d); }
    } closer{directory};
    std::vector<std::string> subdirectories;
    errno = 0;
    while (dirent* entry = ::readdir(directory)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      std::string relative = prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
      if (excluded_.contains(relative)) continue;
      struct stat status {};
      if (::fstatat(directory_fd, entry->d_name, &status, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we looked
        return std::unexpected(SystemError("lstat", relative));
      }
      if (S_ISDIR(status.st_mode)) {
        subdirectories.push_back(std::string(name));
        continue;
      }
      if (++entries_ > limits::kIntegrityScanEntriesMax) {
        return Fail(ErrorCode::kResourceExhausted,
                    "more than " + std::to_string(limits::kIntegrityScanEntriesMax) +
                        " entries under the scanned root");
      }
      if (S_ISREG(status.st_mode)) {
        pending_.push_back(PendingFile{std::move(relative)});
      } else if (S_ISLNK(status.st_mode)) {
        auto record = LinkRecord(directory_fd, entry->d_name, std::move(relative), status);
        if (!record) return std::unexpected(record.error());
        records_.push_back(std::move(*record));
      } else {
        records_.push_back(RecordOf(std::move(relative), status, FileKind::kOther));
      }
      errno = 0;
    }
    if (errno != 0) return std::unexpected(SystemError("readdir", prefix));
    for (const auto& name : subdirectories) {
      std::string relative = prefix.empty() ? name : prefix + "/" + name;
      FileDescriptor child(
          ::openat(directory_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child.get() < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) continue;  // changed meanwhile
        return std::unexpected(SystemError("open directory", relative));
      }
      VIGIL_RETURN_IF_ERROR(Walk(child.get(), relative, depth + 1));
    }
    return Ok();
  }

  std::vector<PendingFile>& pending() { return pending_; }
  std::vector<FileRecord>& records() { return records_; }

 private:
  std::unordered_set<std::string> excluded_;
  std::vector<PendingFile> pending_;
  std::vector<FileRecord> records_;
  size_t entries_ = 0;
};

Expected<FileDescriptor> OpenRoot(const std::filesystem::path& root) {
  FileDescriptor fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(SystemError("open scan root", root.string()));
  return fd;
}

size_t ThreadCount(const ScanOptions& options) {
  size_t threads = options.threads;
  if (threads == 0) threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  return std::min(threads, limits::kIntegrityScanThreadsMax);
}

Expected<std::optional<FileRecord>> ScanPathAt(int root_fd, std::string_view relative,
                                               std::span<uint8_t> buffer,
                                               crypto::Sha256Hasher& hasher);

}  // namespace

Expected<std::pair<crypto::Sha256Digest, uint64_t>> HashFileDescriptor(
    int fd, std::span<uint8_t> buffer, std::string_view path_for_errors) {
  crypto::Sha256Hasher hasher;
  uint64_t size = 0;
  off_t offset = 0;
  for (;;) {
    ssize_t got = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(SystemError("read", path_for_errors));
    }
    if (got == 0) break;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(got)));
    size += static_cast<uint64_t>(got);
    offset += got;
  }
  return std::pair{hasher.Finish(), size};
}

Expected<std::vector<FileRecord>> ScanTree(const std::filesystem::path& root,
                                           const ScanOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(FileDescriptor root_fd, OpenRoot(root));
  TreeWalker walker(options);
  if (auto walked = walker.Walk(root_fd.get(), "", 0); !walked) {
    return std::unexpected(walked.error().WithContext("scanning " + root.string()));
  }
  auto& pending = walker.pending();
  std::vector<std::optional<FileRecord>> hashed(pending.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::optional<Error> first_error;
  auto work = [&] {
    std::vector<uint8_t> buffer(limits::kIntegrityReadBufferBytes);
    crypto::Sha256Hasher hasher;
    for (size_t i = next++; i < pending.size() && !failed; i = next++) {
      const std::string& relative = pending[i].relative;
      FileDescriptor fd(OpenForHashing(root_fd.get(), relative));
      Expected<std::optional<FileRecord>> record;
      if (fd.get() >= 0) {
        auto opened = RecordOfOpenFile(fd.get(), relative, buffer, hasher);
        if (opened)
          record = std::optional<FileRecord>(std::move(*opened));
        else
          record = std::unexpected(opened.error());
      } else {
        // Replaced (by a link: ELOOP) or removed since the walk: record what is there now.
        record = ScanPathAt(root_fd.get(), relative, buffer, hasher);
      }
      if (!record) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = record.error();
        failed = true;
        return;
      }
      hashed[i] = std::move(*record);
    }
  };
  size_t threads = std::min(ThreadCount(options), std::max<size_t>(1, pending.size()));
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (auto& worker : workers) worker.join();
  if (first_error) return std::unexpected(first_error->WithContext("scanning " + root.string()));
  std::vector<FileRecord> records = std::move(walker.records());
  for (auto& record : hashed) {
    if (record) records.push_back(std::move(*record));
  }
  SortRecords(records);
  return records;
}

namespace {

Expected<std::optional<FileRecord>> ScanPathAt(int root_fd, std::string_view relative,
                                               std::span<uint8_t> buffer,
                                               crypto::Sha256Hasher& hasher) {
  std::string path(relative);
  FileDescriptor handle(OpenBeneath(root_fd, path.c_str(), O_PATH));
  if (handle.get() < 0) {
    // Absent, or a link on the way (ELOOP, EXDEV): nothing of the release is at this path.
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) {
      return std::optional<FileRecord>();
    }
    return std::unexpected(SystemError("open", path));
  }
  struct stat status {};
  if (::fstat(handle.get(), &status) != 0) return std::unexpected(SystemError("fstat", path));
  if (S_ISDIR(status.st_mode)) return std::optional<FileRecord>();
  if (S_ISLNK(status.st_mode)) {
    VIGIL_ASSIGN_OR_RETURN(FileRecord record, LinkRecord(handle.get(), "", path, status));
    return std::optional<FileRecord>(std::move(record));
  }
  if (!S_ISREG(status.st_mode)) {
    return std::optional<FileRecord>(RecordOf(path, status, FileKind::kOther));
  }
  FileDescriptor fd(OpenForHashing(root_fd, path));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<FileRecord>();
    if (errno == ELOOP) return ScanPathAt(root_fd, relative, buffer, hasher);  // became a link
    return std::unexpected(SystemError("open", path));
  }
  VIGIL_ASSIGN_OR_RETURN(FileRecord record, RecordOfOpenFile(fd.get(), path, buffer, hasher));
  return std::optional<FileRecord>(std::move(record));
}

}  // namespace

Expected<std::optional<FileRecord>> ScanPath(const std::filesystem::path& root,
                                             std::string_view relative) {
  VIGIL_ASSIGN_OR_RETURN(FileDescriptor root_fd, OpenRoot(root));
  std::vector<uint8_t> buffer(limits::kIntegrityReadBufferBytes);
  crypto::Sha256Hasher hasher;
  return ScanPathAt(root_fd.get(), relative, buffer, hasher);
}

Expected<ExecutableCheck> CheckProcessExecutable(pid_t pid, const std::filesystem::path& root,
                                                 const release::Manifest& manifest) {
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char target[PATH_MAX];
  ssize_t length = ::readlink(link.c_str(), target, sizeof(target) - 1);
  if (length < 0) return std::unexpected(SystemError("readlink", link));
  ExecutableCheck check;
  check.executable.assign(target, static_cast<size_t>(length));
  constexpr std::string_view kDeleted = " (deleted)";
  if (check.executable.ends_with(kDeleted)) {
    check.deleted = true;
    check.executable.resize(check.executable.size() - kDeleted.size());
  }
  // /proc/PID/exe opens the running image itself, whatever is at its path now.
  FileDescriptor fd(::open(link.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(SystemError("open", link));
  std::vector<uint8_t> buffer(limits::kIntegrityReadBufferBytes);
  VIGIL_ASSIGN_OR_RETURN(auto digest, HashFileDescriptor(fd.get(), buffer, link));
  check.sha256 = digest.first;
  check.size_bytes = digest.second;

  std::error_code error;
  std::filesystem::path canonical_root = std::filesystem::canonical(root, error);
  if (error)
    return Fail(ErrorCode::kIOError, "resolving " + root.string() + ": " + error.message());
  std::string prefix = canonical_root.string() + "/";
  if (!check.executable.starts_with(prefix)) {
    check.reason = "process " + std::to_string(pid) + " runs " + check.executable +
                   ", which is outside " + canonical_root.string();
    return check;
  }
  check.relative_path = check.executable.substr(prefix.size());
  const release::FileEntry* expected = release::FindFile(manifest, *check.relative_path);
  if (expected == nullptr) {
    check.reason = "process " + std::to_string(pid) + " runs " + *check.relative_path +
                   ", which is not a file of " + manifest.app + " " + manifest.version;
  } else if (expected->sha256 != check.sha256 || expected->size_bytes != check.size_bytes) {
    check.reason = "process " + std::to_string(pid) + " runs an image of " + *check.relative_path +
                   " that differs from the release's" +
                   (check.deleted ? " (its file was deleted or replaced)" : "");
  } else {
    check.matches = true;
  }
  return check;
}

}  // namespace vigil::integrity
