// integrity: the inotify watcher back end — one watch per directory of the tree (internal;
// see watcher.h). The fallback when fanotify is not available (no CAP_SYS_ADMIN, old kernel,
// a filesystem without file handles): it needs no privilege, but each directory costs a watch
// (fs.inotify.max_user_watches) and a directory created later is watched only once its
// creation event is read (the files it already holds by then are reported).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/file.h"
#include "integrity/watch_source.h"

namespace vigil::integrity {

class InotifyWatchSource final : public WatchSource {
 public:
  // Watches every directory under `root`. Fails with the directory it could not watch (e.g.
  // fs.inotify.max_user_watches reached).
  static Expected<std::unique_ptr<InotifyWatchSource>> Start(const std::filesystem::path& root);

  int fd() const override { return inotify_.get(); }
  Status ReadEvents(PendingChanges& changes) override;
  size_t watched_directories() const override { return directories_.size(); }
  std::string_view name() const override { return "inotify"; }

 private:
  InotifyWatchSource(std::filesystem::path root, FileDescriptor inotify)
      : root_(std::move(root)), inotify_(std::move(inotify)) {}
  // Watches `relative` and every directory below it; with `report_files`, every file found is
  // a pending change (a directory that appeared with files already in it).
  Status WatchTree(const std::string& relative, PendingChanges* report_files);
  Status WatchDirectory(const std::string& relative);
  void HandleEvents(const uint8_t* data, size_t length, PendingChanges& changes);

  std::filesystem::path root_;
  FileDescriptor inotify_;
  std::unordered_map<int, std::string> directories_;  // watch descriptor -> relative dir
};

}  // namespace vigil::integrity
