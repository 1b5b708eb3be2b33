// integrity: the watcher — which paths of a tree changed, as they change (edge: the kernel).
//
// A Watcher watches a directory tree and reports paths (relative to its root) to re-check
// with ScanPath + CheckOne, and "full scan needed" whenever it cannot vouch that it saw every
// change: the kernel's queue overflowed (IN_Q_OVERFLOW), more than
// limits::kIntegrityPendingPathsMax distinct paths piled up between two Drains, a directory
// was deleted or moved (every file under it changed path), or the root itself went away. There
// is no silent loss: whatever is not reported as a path is covered by a full scan.
//
// Back end: inotify, one watch per directory (recursive; a directory created later is watched
// as soon as its creation is read, and the files it already holds are reported). Events:
// close-after-write, modify, attribute change (chmod, chown), create, delete, rename (both
// names). fanotify (FAN_REPORT_DFID_NAME with a filesystem mark) is not implemented yet; see
// docs/integrity.md.
//
// Use from an event loop (e.g. Asio): wait for `fd()` to be readable (asio::posix::
// stream_descriptor::async_wait(wait_read)), then call Drain(). Thread-safety: none; one
// thread owns a Watcher (the fd may be polled from that thread's loop).
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/file.h"

namespace vigil::integrity {

struct WatchBatch {
  std::vector<std::string> paths;  // sorted, unique; re-check each
  bool full_scan_needed = false;   // re-scan the whole tree (the paths are then redundant)
};

class Watcher {
 public:
  // Watches every directory under `root` (not following links). Fails with the directory it
  // could not watch (e.g. fs.inotify.max_user_watches reached).
  static Expected<std::unique_ptr<Watcher>> Start(const std::filesystem::path& root);

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Readable when events are queued.
  int fd() const { return inotify_.get(); }
  // Reads everything the kernel has queued now (never blocks) and returns what to re-check.
  Expected<WatchBatch> Drain();
  // Directories watched now.
  size_t watched_directories() const { return directories_.size(); }
  std::string_view backend() const { return "inotify"; }

 private:
  Watcher(std::filesystem::path root, FileDescriptor inotify)
      : root_(std::move(root)), inotify_(std::move(inotify)) {}
  // Watches `relative` and every directory below it; with `report_files`, every file found
  // is added to the pending paths (a directory that appeared with files already in it).
  Status WatchTree(const std::string& relative, bool report_files);
  Status WatchDirectory(const std::string& relative);
  void AddPending(std::string path);
  Status HandleEvents(const uint8_t* data, size_t length);

  std::filesystem::path root_;
  FileDescriptor inotify_;
  std::unordered_map<int, std::string> directories_;  // watch descriptor -> relative dir
  std::set<std::string> pending_;
  bool full_scan_needed_ = false;
};

}  // namespace vigil::integrity
