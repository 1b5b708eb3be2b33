#include "integrity/repair.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/limits.h"

namespace vigil::integrity {
namespace {

using Clock = std::chrono::steady_clock;

Error SystemError(std::string_view what, std::string_view path) {
  return Error(ErrorCode::kIOError,
               std::string(what) + " " + std::string(path) + ": " + std::strerror(errno));
}

// Copies `source` into `destination` while hashing it; kCorruption when the bytes are not the
// expected ones (nothing of a bad copy may be used).
Status CopyVerified(int source, int destination, const crypto::Sha256Digest& sha256,
                    uint64_t size_bytes, std::string_view source_name) {
  std::vector<uint8_t> buffer(limits::kIntegrityReadBufferBytes);
  crypto::Sha256Hasher hasher;
  uint64_t copied = 0;
  for (;;) {
    ssize_t got = ::read(source, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(SystemError("read", source_name));
    }
    if (got == 0) break;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(got)));
    copied += static_cast<uint64_t>(got);
    if (copied > size_bytes) break;  // longer than the release's file: damaged
    for (ssize_t written = 0; written < got;) {
      ssize_t put =
          ::write(destination, buffer.data() + written, static_cast<size_t>(got - written));
      if (put < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(SystemError("write copy of", source_name));
      }
      written += put;
    }
  }
  if (copied != size_bytes || hasher.Finish() != sha256) {
    return Fail(ErrorCode::kCorruption, std::string(source_name) + " does not hash to " +
                                            ToHex(sha256) + " (" + std::to_string(size_bytes) +
                                            " bytes): it is damaged");
  }
  return Ok();
}

std::string TemporaryName(std::string_view name) {
  static std::atomic<uint64_t> counter{0};
  return ".vigil-repair-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         std::string(name.substr(0, 64));
}

// The directory holding `relative` under root_fd, opened without following links; missing
// directories are created, and a link or file where a directory belongs is replaced by one.
Expected<std::pair<FileDescriptor, std::string>> OpenParent(int root_fd,
                                                            const std::string& relative) {
  FileDescriptor current(::dup(root_fd));
  if (current.get() < 0) return std::unexpected(SystemError("dup", relative));
  size_t start = 0;
  for (size_t slash = relative.find('/'); slash != std::string::npos;
       start = slash + 1, slash = relative.find('/', start)) {
    std::string component = relative.substr(start, slash - start);
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    FileDescriptor next(::openat(current.get(), component.c_str(), flags));
    if (next.get() < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      if (::unlinkat(current.get(), component.c_str(), 0) != 0) {
        return std::unexpected(SystemError("remove what replaced directory", component));
      }
      errno = ENOENT;
    }
    if (next.get() < 0 && errno == ENOENT) {
      if (::mkdirat(current.get(), component.c_str(), 0755) != 0 && errno != EEXIST) {
        return std::unexpected(SystemError("mkdir", relative.substr(0, slash)));
      }
      next = FileDescriptor(::openat(current.get(), component.c_str(), flags));
    }
    if (next.get() < 0)
      return std::unexpected(SystemError("open directory", relative.substr(0, slash)));
    current = std::move(next);
  }
  return std::pair{std::move(current), relative.substr(start)};
}

void Finish(RepairAction& action, RepairOutcome outcome, std::string detail) {
  action.outcome = outcome;
  action.detail = std::move(detail);
}

void RestoreFile(const std::filesystem::path& root, int root_fd, const release::FileEntry& expected,
                 const PristineStore& store, const RepairOptions& options, RepairAction& action) {
  std::filesystem::path source = store.PathOf(expected.sha256);
  FileDescriptor pristine(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (pristine.get() < 0) {
    Finish(action, RepairOutcome::kNeedsFetch, "no pristine copy " + source.string());
    return;
  }
  auto parent = OpenParent(root_fd, expected.path);
  if (!parent) return Finish(action, RepairOutcome::kFailed, parent.error().message());
  auto& [directory, name] = *parent;
  std::string temporary = TemporaryName(name);
  FileDescriptor out(::openat(directory.get(), temporary.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.get() < 0)
    return Finish(action, RepairOutcome::kFailed, SystemError("create", temporary).message());
  auto fail = [&](RepairOutcome outcome, std::string detail) {
    ::unlinkat(directory.get(), temporary.c_str(), 0);
    Finish(action, outcome, std::move(detail));
  };
  if (Status copied = CopyVerified(pristine.get(), out.get(), expected.sha256, expected.size_bytes,
                                   source.string());
      !copied) {
    return fail(copied.error().code() == ErrorCode::kCorruption ? RepairOutcome::kNeedsFetch
                                                                : RepairOutcome::kFailed,
                copied.error().message());
  }
  if ((options.owner_uid || options.owner_gid) &&
      ::fchown(out.get(), options.owner_uid ? *options.owner_uid : static_cast<uid_t>(-1),
               options.owner_gid ? *options.owner_gid : static_cast<gid_t>(-1)) != 0) {
    return fail(RepairOutcome::kFailed, SystemError("chown", expected.path).message());
  }
  if (::fchmod(out.get(), expected.mode) != 0 || ::fsync(out.get()) != 0) {
    return fail(RepairOutcome::kFailed, SystemError("chmod/fsync", expected.path).message());
  }
  struct stat status {};
  if (::fstatat(directory.get(), name.c_str(), &status, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISDIR(status.st_mode)) {
    std::error_code ignored;  // a directory where the file belongs: it goes (links not followed)
    std::filesystem::remove_all(root / expected.path, ignored);
  }
  if (::renameat(directory.get(), temporary.c_str(), directory.get(), name.c_str()) != 0 ||
      ::fsync(directory.get()) != 0) {
    return fail(RepairOutcome::kFailed, SystemError("rename into place", expected.path).message());
  }
  action.source = source.string();
  Finish(action, RepairOutcome::kRestored, "");
}

void DeleteAdded(int root_fd, const std::string& relative, RepairAction& action) {
  auto parent = OpenParent(root_fd, relative);
  if (!parent) return Finish(action, RepairOutcome::kFailed, parent.error().message());
  auto& [directory, name] = *parent;
  if (::unlinkat(directory.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return Finish(action, RepairOutcome::kFailed, SystemError("delete", relative).message());
  }
  if (::fsync(directory.get()) != 0) {
    return Finish(action, RepairOutcome::kFailed,
                  SystemError("fsync directory of", relative).message());
  }
  Finish(action, RepairOutcome::kDeleted, "");
}

}  // namespace

Expected<PristineStore> PristineStore::Open(const std::filesystem::path& directory) {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  return PristineStore(directory);
}

std::filesystem::path PristineStore::PathOf(const crypto::Sha256Digest& sha256) const {
  return directory_ / ToHex(sha256);
}

bool PristineStore::Contains(const crypto::Sha256Digest& sha256) const {
  std::error_code error;
  return std::filesystem::is_regular_file(PathOf(sha256), error);
}

Status PristineStore::AddRelease(const release::Manifest& manifest,
                                 const std::filesystem::path& release_root) {
  for (const auto& file : manifest.files) {
    std::filesystem::path source = release_root / file.path;
    FileDescriptor in(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (in.get() < 0) return std::unexpected(SystemError("open", source.string()));
    std::filesystem::path target = PathOf(file.sha256);
    std::filesystem::path temporary = target.string() + ".tmp";
    FileDescriptor out(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0400));
    if (out.get() < 0) return std::unexpected(SystemError("create", temporary.string()));
    if (Status copied =
            CopyVerified(in.get(), out.get(), file.sha256, file.size_bytes, source.string());
        !copied) {
      std::filesystem::remove(temporary);
      return std::unexpected(
          copied.error().WithContext("adding " + file.path + " to the pristine store"));
    }
    out.Reset();
    VIGIL_RETURN_IF_ERROR(RenameDurably(temporary, target));
  }
  return Ok();
}

std::string_view RepairOutcomeName(RepairOutcome outcome) {
  switch (outcome) {
    case RepairOutcome::kRestored:
      return "restored";
    case RepairOutcome::kDeleted:
      return "deleted";
    case RepairOutcome::kNeedsFetch:
      return "needs fetch";
    case RepairOutcome::kFailed:
      return "failed";
  }
  return "unknown";
}

size_t RepairReport::Count(RepairOutcome outcome) const {
  size_t count = 0;
  for (const auto& action : actions) count += action.outcome == outcome ? 1 : 0;
  return count;
}

RepairReport Repair(const std::filesystem::path& root, const std::vector<Difference>& differences,
                    const PristineStore& store, const RepairOptions& options) {
  auto start = Clock::now();
  RepairReport report;
  FileDescriptor root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const auto& difference : differences) {
    auto action_start = Clock::now();
    RepairAction action;
    action.path = difference.path;
    action.difference = difference.kind;
    if (root_fd.get() < 0) {
      Finish(action, RepairOutcome::kFailed,
             SystemError("open release root", root.string()).message());
    } else if (difference.kind == DifferenceKind::kAdded) {
      DeleteAdded(root_fd.get(), difference.path, action);
    } else if (!difference.expected) {
      Finish(action, RepairOutcome::kFailed, "no expected file for " + difference.path);
    } else {
      RestoreFile(root, root_fd.get(), *difference.expected, store, options, action);
    }
    action.duration =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - action_start);
    report.actions.push_back(std::move(action));
  }
  report.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  return report;
}

}  // namespace vigil::integrity
