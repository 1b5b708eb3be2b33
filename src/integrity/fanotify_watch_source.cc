#include "integrity/fanotify_watch_source.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/limits.h"

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200  // linux/fcntl.h since 6.5: a handle for identification only
#endif

namespace vigil::integrity {
namespace {

// Events on files and directories anywhere on the marked filesystem; FAN_ONDIR adds those of
// directories (mkdir, rmdir, a directory renamed, the root deleted or moved).
constexpr uint64_t kEventMask = FAN_CLOSE_WRITE | FAN_MODIFY | FAN_ATTRIB | FAN_CREATE |
                                FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE_SELF |
                                FAN_MOVE_SELF | FAN_ONDIR;

std::string ErrnoText(int error) {
  std::string text = std::strerror(error);
  if (error == EPERM) text += " (needs CAP_SYS_ADMIN)";
  if (error == ENOSYS || error == EINVAL) text += " (kernel without FAN_REPORT_DFID_NAME, < 5.9)";
  if (error == EOPNOTSUPP || error == ENODEV || error == EXDEV) {
    text += " (the filesystem does not report file handles)";
  }
  return text;
}

}  // namespace

Expected<std::unique_ptr<FanotifyWatchSource>> FanotifyWatchSource::Start(
    const std::filesystem::path& root) {
  FileDescriptor fanotify(
      ::fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK,
                      O_RDONLY | O_LARGEFILE | O_CLOEXEC));
  if (fanotify.get() < 0) {
    int error = errno;
    return Fail(ErrorCode::kUnavailable,
                "fanotify_init(FAN_REPORT_DFID_NAME): " + ErrnoText(error));
  }
  std::unique_ptr<FanotifyWatchSource> source(new FanotifyWatchSource(root, std::move(fanotify)));
  VIGIL_RETURN_IF_ERROR(source->AddTree("", nullptr));
  return source;
}

Status FanotifyWatchSource::MarkFilesystem(int directory_fd, const std::filesystem::path& path) {
  if (::fanotify_mark(fanotify_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kEventMask, directory_fd,
                      nullptr) != 0) {
    int error = errno;
    return Fail(ErrorCode::kUnavailable,
                "fanotify_mark(FAN_MARK_FILESYSTEM) on " + path.string() + ": " + ErrnoText(error));
  }
  return Ok();
}

Status FanotifyWatchSource::AddDirectory(const std::string& relative) {
  // The same bound as inotify's watches: the table costs memory per directory.
  if (directory_by_key_.size() >= limits::kIntegrityInotifyWatchesMax) {
    return Fail(ErrorCode::kResourceExhausted,
                "watching more than " + std::to_string(limits::kIntegrityInotifyWatchesMax) +
                    " directories under " + root_.string());
  }
  std::filesystem::path path = relative.empty() ? root_ : root_ / relative;
  // O_RDONLY, not O_PATH: fanotify_mark does not accept an O_PATH descriptor.
  FileDescriptor directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (directory.get() < 0) {
    return Fail(ErrorCode::kIOError, "open " + path.string() + ": " + std::strerror(errno));
  }
  struct stat status {};
  struct statfs filesystem {};
  if (::fstat(directory.get(), &status) != 0 || ::fstatfs(directory.get(), &filesystem) != 0) {
    return Fail(ErrorCode::kIOError, "stat " + path.string() + ": " + std::strerror(errno));
  }
  if (!marked_filesystems_.contains(status.st_dev)) {
    VIGIL_RETURN_IF_ERROR(MarkFilesystem(directory.get(), path));
    marked_filesystems_.insert(status.st_dev);
  }
  alignas(file_handle) uint8_t storage[sizeof(file_handle) + kFanotifyHandleBytesMax];
  auto* handle = reinterpret_cast<file_handle*>(storage);
  int mount_id = 0;
  handle->handle_bytes = kFanotifyHandleBytesMax;
  int got = ::name_to_handle_at(directory.get(), "", handle, &mount_id, AT_EMPTY_PATH);
  if (got != 0 && errno == EOPNOTSUPP) {
    // A filesystem that cannot export handles may still identify inodes by one (6.5+); that is
    // the kind fanotify reports for it.
    handle->handle_bytes = kFanotifyHandleBytesMax;
    got =
        ::name_to_handle_at(directory.get(), "", handle, &mount_id, AT_EMPTY_PATH | AT_HANDLE_FID);
  }
  if (got != 0 || handle->handle_bytes > kFanotifyHandleBytesMax) {
    int error = got != 0 ? errno : EOVERFLOW;
    return Fail(ErrorCode::kUnavailable,
                "name_to_handle_at " + path.string() + ": " + ErrnoText(error));
  }
  std::string key = MakeFanotifyDirectoryKey(&filesystem.f_fsid, handle->handle_bytes,
                                             handle->handle_type, handle->f_handle);
  if (auto known = key_by_directory_.find(relative); known != key_by_directory_.end()) {
    directory_by_key_.erase(known->second);
  }
  key_by_directory_[relative] = key;
  directory_by_key_[std::move(key)] = relative;
  return Ok();
}

Status FanotifyWatchSource::AddTree(const std::string& relative, PendingChanges* report_files) {
  return AddDirectoryTree(root_, relative,
                          [this](const std::string& directory) { return AddDirectory(directory); },
                          report_files);
}

void FanotifyWatchSource::ForgetTree(const std::string& relative) {
  auto forget = [this](std::map<std::string, std::string>::iterator from,
                       std::map<std::string, std::string>::iterator to) {
    for (auto it = from; it != to; ++it) directory_by_key_.erase(it->second);
    key_by_directory_.erase(from, to);
  };
  if (auto it = key_by_directory_.find(relative); it != key_by_directory_.end()) {
    forget(it, std::next(it));
  }
  // Everything under "relative/": the keys from "relative/" up to "relative0" ('0' follows '/').
  forget(key_by_directory_.lower_bound(relative + "/"),
         key_by_directory_.lower_bound(relative + "0"));
}

void FanotifyWatchSource::Handle(const FanotifyEvent& event, PendingChanges& changes) {
  if (event.mask & FAN_Q_OVERFLOW) {
    changes.NeedFullScan();
    return;
  }
  // No directory record: a self event of a file (its directory's own event names it).
  if (event.directory_key.empty()) return;
  lookup_key_.assign(event.directory_key);
  auto directory = directory_by_key_.find(lookup_key_);
  if (directory == directory_by_key_.end()) return;  // elsewhere on the filesystem
  if (event.name.empty()) {
    // The directory itself. The root deleted or moved: every path below it changed. Any other
    // directory's move or removal is reported (first) by its parent's event, and a directory
    // just moved in reports its own move here, which is not a loss. Attributes of
    // directories are not records.
    if (directory->second.empty() && (event.mask & (FAN_DELETE_SELF | FAN_MOVE_SELF))) {
      changes.NeedFullScan();
    }
    return;
  }
  std::string path = JoinRelative(directory->second, event.name);
  if (event.mask & FAN_ONDIR) {
    if (event.mask & (FAN_DELETE | FAN_MOVED_FROM)) {
      ForgetTree(path);
      changes.NeedFullScan();  // every file under it is gone from its path
    }
    if (event.mask & (FAN_CREATE | FAN_MOVED_TO)) {
      if (auto added = AddTree(path, &changes); !added) changes.NeedFullScan();
    }
    return;  // attribute changes of directories are not records
  }
  changes.Add(std::move(path));
}

Status FanotifyWatchSource::ReadEvents(PendingChanges& changes) {
  alignas(fanotify_event_metadata) static thread_local uint8_t
      buffer[limits::kIntegrityEventBufferBytes];
  for (size_t reads = 0; reads < kWatcherReadsPerDrainMax; ++reads) {
    ssize_t got = ::read(fanotify_.get(), buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return Fail(ErrorCode::kIOError,
                  std::string("reading fanotify events: ") + std::strerror(errno));
    }
    if (got == 0) break;
    FanotifyDecoded decoded = DecodeFanotifyEvents(buffer, static_cast<size_t>(got));
    for (const FanotifyEvent& event : decoded.events) {
      if (event.fd >= 0) ::close(event.fd);  // FID groups report none; never leak one
      Handle(event, changes);
    }
    if (decoded.malformed) changes.NeedFullScan();
  }
  return Ok();
}

}  // namespace vigil::integrity
