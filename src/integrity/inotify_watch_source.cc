#include "integrity/inotify_watch_source.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/limits.h"

namespace vigil::integrity {
namespace {

constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK;

}  // namespace

Expected<std::unique_ptr<InotifyWatchSource>> InotifyWatchSource::Start(
    const std::filesystem::path& root) {
  FileDescriptor inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (inotify.get() < 0) {
    return Fail(ErrorCode::kIOError, std::string("inotify_init1: ") + std::strerror(errno));
  }
  std::unique_ptr<InotifyWatchSource> source(new InotifyWatchSource(root, std::move(inotify)));
  VIGIL_RETURN_IF_ERROR(source->WatchTree("", nullptr));
  return source;
}

Status InotifyWatchSource::WatchDirectory(const std::string& relative) {
  if (directories_.size() >= limits::kIntegrityInotifyWatchesMax) {
    return Fail(ErrorCode::kResourceExhausted,
                "watching more than " + std::to_string(limits::kIntegrityInotifyWatchesMax) +
                    " directories under " + root_.string());
  }
  std::filesystem::path path = relative.empty() ? root_ : root_ / relative;
  int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), kWatchMask);
  if (wd < 0) {
    return Fail(ErrorCode::kIOError,
                "inotify_add_watch " + path.string() + ": " + std::strerror(errno) +
                    (errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : ""));
  }
  directories_[wd] = relative;
  return Ok();
}

Status InotifyWatchSource::WatchTree(const std::string& relative, PendingChanges* report_files) {
  return AddDirectoryTree(root_, relative,
                          [this](const std::string& directory) { return WatchDirectory(directory); },
                          report_files);
}

void InotifyWatchSource::HandleEvents(const uint8_t* data, size_t length, PendingChanges& changes) {
  size_t offset = 0;
  while (offset + sizeof(inotify_event) <= length) {
    inotify_event event;
    std::memcpy(&event, data + offset, sizeof(event));
    if (event.len > length - offset - sizeof(inotify_event)) {
      changes.NeedFullScan();  // a record longer than what was read: never from the kernel
      return;
    }
    std::string_view name;
    if (event.len > 0) {
      const char* text = reinterpret_cast<const char*>(data + offset + sizeof(inotify_event));
      name = std::string_view(text, ::strnlen(text, event.len));
    }
    offset += sizeof(inotify_event) + event.len;
    if (event.mask & IN_Q_OVERFLOW) {
      changes.NeedFullScan();
      continue;
    }
    auto directory = directories_.find(event.wd);
    if (event.mask & IN_IGNORED) {
      if (directory != directories_.end()) directories_.erase(directory);
      continue;
    }
    if (directory == directories_.end()) continue;  // a watch already removed
    if (event.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      // The root itself, or a directory whose parent event may already be read: every path
      // below it changed.
      changes.NeedFullScan();
      continue;
    }
    std::string path = JoinRelative(directory->second, name);
    if (event.mask & IN_ISDIR) {
      if (event.mask & (IN_CREATE | IN_MOVED_TO)) {
        if (auto watched = WatchTree(path, &changes); !watched) changes.NeedFullScan();
      } else if (event.mask & (IN_DELETE | IN_MOVED_FROM)) {
        changes.NeedFullScan();  // every file under it is gone from its path
      }
      continue;  // attribute changes of directories are not records
    }
    changes.Add(std::move(path));
  }
}

Status InotifyWatchSource::ReadEvents(PendingChanges& changes) {
  alignas(inotify_event) static thread_local uint8_t buffer[limits::kIntegrityEventBufferBytes];
  for (size_t reads = 0; reads < kWatcherReadsPerDrainMax; ++reads) {
    ssize_t got = ::read(inotify_.get(), buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return Fail(ErrorCode::kIOError,
                  std::string("reading inotify events: ") + std::strerror(errno));
    }
    if (got == 0) break;
    HandleEvents(buffer, static_cast<size_t>(got), changes);
  }
  return Ok();
}

}  // namespace vigil::integrity
