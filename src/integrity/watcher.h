// integrity: the watcher — which paths of a tree changed, as they change (edge: the kernel).
//
// A Watcher watches a directory tree and reports paths (relative to its root) to re-check
// with ScanPath + CheckOne, and "full scan needed" whenever it cannot vouch that it saw every
// change: the kernel's queue overflowed (FAN_Q_OVERFLOW, IN_Q_OVERFLOW), more than
// limits::kIntegrityPendingPathsMax distinct paths piled up between two Drains, a directory
// was deleted or moved (every file under it changed path), the root itself went away, or an
// event record could not be decoded. There is no silent loss: whatever is not reported as a
// path is covered by a full scan.
//
// Two back ends, the same semantics (docs/integrity.md#watcher):
//  - fanotify (fanotify_watch_source.h), chosen first: FAN_REPORT_DFID_NAME with one
//    filesystem mark per filesystem of the tree; new directories are covered without a race
//    and no per-directory watch is needed. Needs CAP_SYS_ADMIN and a kernel >= 5.9.
//  - inotify (inotify_watch_source.h), the fallback: one watch per directory; a directory
//    created later is watched as soon as its creation is read, and the files it already holds
//    are reported.
// Events: close-after-write, modify, attribute change (chmod, chown), create, delete, rename
// (both names). Start() picks fanotify and falls back to inotify when it is unavailable; it
// logs nothing itself: backend() says which runs and fallback_reason() why fanotify did not.
//
//   auto watcher = integrity::Watcher::Start(slot_directory);  // or (…, WatcherBackend::kInotify)
//   // when (*watcher)->fd() is readable:
//   auto batch = (*watcher)->Drain();  // batch->paths, batch->full_scan_needed
//
// Use from an event loop (e.g. Asio): wait for `fd()` to be readable (asio::posix::
// stream_descriptor::async_wait(wait_read)), then call Drain(). Thread-safety: none; one
// thread owns a Watcher (the fd may be polled from that thread's loop).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "integrity/watch_source.h"

namespace vigil::integrity {

enum class WatcherBackend {
  kAutomatic,  // fanotify, else inotify
  kFanotify,   // fanotify or fail (tests, benchmarks)
  kInotify,    // inotify only
};

// "auto", "fanotify", "inotify".
std::string_view WatcherBackendName(WatcherBackend backend);
std::optional<WatcherBackend> ParseWatcherBackend(std::string_view name);

class Watcher {
 public:
  // Watches every directory under `root` (not following links). Fails with what could not be
  // watched (e.g. fs.inotify.max_user_watches reached; with kFanotify, why fanotify is not
  // available).
  static Expected<std::unique_ptr<Watcher>> Start(
      const std::filesystem::path& root, WatcherBackend backend = WatcherBackend::kAutomatic);

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Readable when events are queued.
  int fd() const { return source_->fd(); }
  // Reads what the kernel has queued now (never blocks) and returns what to re-check.
  Expected<WatchBatch> Drain();
  // Directories of the tree watched now.
  size_t watched_directories() const { return source_->watched_directories(); }
  // "fanotify" or "inotify".
  std::string_view backend() const { return source_->name(); }
  // Why the automatic choice is not fanotify (empty when it is, or when a back end was forced).
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  Watcher(std::unique_ptr<WatchSource> source, std::string fallback_reason)
      : source_(std::move(source)), fallback_reason_(std::move(fallback_reason)) {}

  std::unique_ptr<WatchSource> source_;
  std::string fallback_reason_;
  PendingChanges pending_;
};

}  // namespace vigil::integrity
