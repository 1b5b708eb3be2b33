#include "integrity/watcher.h"

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

std::string Join(const std::string& directory, std::string_view name) {
  if (directory.empty()) return std::string(name);
  return directory + "/" + std::string(name);
}

}  // namespace

Expected<std::unique_ptr<Watcher>> Watcher::Start(const std::filesystem::path& root) {
  FileDescriptor inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (inotify.get() < 0) {
    return Fail(ErrorCode::kIOError, std::string("inotify_init1: ") + std::strerror(errno));
  }
  std::unique_ptr<Watcher> watcher(new Watcher(root, std::move(inotify)));
  VIGIL_RETURN_IF_ERROR(watcher->WatchTree("", false));
  return watcher;
}

Status Watcher::WatchDirectory(const std::string& relative) {
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

Status Watcher::WatchTree(const std::string& relative, bool report_files) {
  VIGIL_RETURN_IF_ERROR(WatchDirectory(relative));
  std::error_code error;
  std::filesystem::path base = relative.empty() ? root_ : root_ / relative;
  // recursive_directory_iterator does not follow directory links by default.
  for (auto it = std::filesystem::recursive_directory_iterator(base, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    std::string child = Join(relative, it->path().lexically_relative(base).string());
    if (it->is_directory(error) && !it->is_symlink(error)) {
      VIGIL_RETURN_IF_ERROR(WatchDirectory(child));
    } else if (report_files) {
      AddPending(std::move(child));
    }
  }
  // A directory gone while we walked it is reported by its own delete event.
  if (error && error != std::errc::no_such_file_or_directory) {
    return Fail(ErrorCode::kIOError, "walking " + base.string() + ": " + error.message());
  }
  return Ok();
}

void Watcher::AddPending(std::string path) {
  if (full_scan_needed_) return;
  if (pending_.size() >= limits::kIntegrityPendingPathsMax) {
    full_scan_needed_ = true;
    pending_.clear();
    return;
  }
  pending_.insert(std::move(path));
}

Status Watcher::HandleEvents(const uint8_t* data, size_t length) {
  size_t offset = 0;
  while (offset + sizeof(inotify_event) <= length) {
    inotify_event event;
    std::memcpy(&event, data + offset, sizeof(event));
    std::string_view name;
    if (event.len > 0) {
      const char* text = reinterpret_cast<const char*>(data + offset + sizeof(inotify_event));
      name = std::string_view(text, ::strnlen(text, event.len));
    }
    offset += sizeof(inotify_event) + event.len;
    if (event.mask & IN_Q_OVERFLOW) {
      full_scan_needed_ = true;
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
      full_scan_needed_ = true;
      continue;
    }
    std::string path = Join(directory->second, name);
    if (event.mask & IN_ISDIR) {
      if (event.mask & (IN_CREATE | IN_MOVED_TO)) {
        if (auto watched = WatchTree(path, true); !watched) full_scan_needed_ = true;
      } else if (event.mask & (IN_DELETE | IN_MOVED_FROM)) {
        full_scan_needed_ = true;  // every file under it is gone from its path
      }
      continue;  // attribute changes of directories are not records
    }
    AddPending(std::move(path));
  }
  return Ok();
}

Expected<WatchBatch> Watcher::Drain() {
  alignas(inotify_event) static thread_local uint8_t buffer[limits::kIntegrityEventBufferBytes];
  for (;;) {
    ssize_t got = ::read(inotify_.get(), buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return Fail(ErrorCode::kIOError,
                  std::string("reading inotify events: ") + std::strerror(errno));
    }
    if (got == 0) break;
    VIGIL_RETURN_IF_ERROR(HandleEvents(buffer, static_cast<size_t>(got)));
  }
  WatchBatch batch;
  batch.full_scan_needed = full_scan_needed_;
  if (!full_scan_needed_) {
    // At most kIntegrityDrainPathsMax a call; the rest stay for the next.
    auto it = pending_.begin();
    while (it != pending_.end() && batch.paths.size() < limits::kIntegrityDrainPathsMax) {
      batch.paths.push_back(*it);
      it = pending_.erase(it);
    }
  } else {
    pending_.clear();
  }
  full_scan_needed_ = false;
  return batch;
}

}  // namespace vigil::integrity
