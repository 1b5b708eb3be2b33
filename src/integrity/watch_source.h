// integrity: what every watcher back end shares (internal to the integrity component; the
// public type is integrity::Watcher in watcher.h).
//
// A WatchSource turns one kernel notification interface (fanotify, inotify) into changed
// paths, relative to the watched root, added to a PendingChanges. PendingChanges holds the
// "no silent loss" rule in one place: beyond limits::kIntegrityPendingPathsMax distinct paths,
// or whenever a source cannot vouch for what changed, it asks for a full scan instead.
// Thread-safety: none; the thread that owns the Watcher owns these.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil::integrity {

struct WatchBatch {
  std::vector<std::string> paths;  // sorted, unique; re-check each
  bool full_scan_needed = false;   // re-scan the whole tree (the paths are then redundant)
};

// read() calls one Drain makes at most: on a busy filesystem (a fanotify filesystem mark sees
// every change on it) events may arrive as fast as they are read, and Drain must return. What
// is left keeps the descriptor readable, so the caller's loop comes back for it.
inline constexpr size_t kWatcherReadsPerDrainMax = 64;

// The paths seen since the last batch, or "full scan needed".
class PendingChanges {
 public:
  void Add(std::string path);
  void NeedFullScan();
  bool full_scan_needed() const { return full_scan_needed_; }
  // Up to limits::kIntegrityDrainPathsMax paths (the rest stay), or full_scan_needed with no
  // paths; the full-scan request is cleared by taking it.
  WatchBatch Take();

 private:
  std::set<std::string> paths_;
  bool full_scan_needed_ = false;
};

// One kernel notification interface watching one tree.
class WatchSource {
 public:
  virtual ~WatchSource() = default;
  // Readable when events are queued.
  virtual int fd() const = 0;
  // Reads what the kernel has queued now (never blocks) into `changes`. An error means the
  // descriptor itself failed; events that could not be interpreted ask for a full scan.
  virtual Status ReadEvents(PendingChanges& changes) = 0;
  // Directories of the tree known to the source now.
  virtual size_t watched_directories() const = 0;
  virtual std::string_view name() const = 0;
};

// "directory/name", or "name" under the root ("").
std::string JoinRelative(const std::string& directory, std::string_view name);

// What both back ends do to watch a tree: `add_directory(relative)`, then for every directory
// below root/relative (not following links), children relative to root; with `report_files`,
// everything else found is a pending change (a directory that appeared with files already in
// it). Stops at the first error of `add_directory`. A tree that vanishes while it is walked is
// not an error (its own delete event reports it).
Status AddDirectoryTree(const std::filesystem::path& root, const std::string& relative,
                        const std::function<Status(const std::string&)>& add_directory,
                        PendingChanges* report_files);

}  // namespace vigil::integrity
