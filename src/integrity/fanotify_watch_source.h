// integrity: the fanotify watcher back end (internal; see watcher.h).
//
// One fanotify group (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME) with a filesystem mark
// (FAN_MARK_FILESYSTEM) on each filesystem the tree lives on: one mark covers the whole tree,
// a directory created later is covered from its first instant (no race between mkdir and a
// new watch, as inotify has), and fs.inotify.max_user_watches does not apply. It needs
// CAP_SYS_ADMIN and a filesystem that reports file handles (FAN_REPORT_DFID_NAME needs
// kernel 5.9).
//
// The kernel reports each event with the file handle of the directory it happened in and the
// entry's name. A table maps the handles of the tree's directories (name_to_handle_at, filled
// when the watcher starts and updated as directories are created, renamed or deleted) to their
// paths relative to the root; events in any other directory of the filesystem are dropped by
// one hash lookup. Event records are decoded by fanotify_events.h, which checks every length.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "common/file.h"
#include "integrity/fanotify_events.h"
#include "integrity/watch_source.h"

namespace vigil::integrity {

class FanotifyWatchSource final : public WatchSource {
 public:
  // Fails, saying why, when this kernel, process or filesystem cannot do it (fanotify_init:
  // EPERM without CAP_SYS_ADMIN, ENOSYS or EINVAL on old kernels; fanotify_mark or
  // name_to_handle_at: a filesystem without file handles) or a directory cannot be read.
  static Expected<std::unique_ptr<FanotifyWatchSource>> Start(const std::filesystem::path& root);

  int fd() const override { return fanotify_.get(); }
  Status ReadEvents(PendingChanges& changes) override;
  size_t watched_directories() const override { return directory_by_key_.size(); }
  std::string_view name() const override { return "fanotify"; }

 private:
  FanotifyWatchSource(std::filesystem::path root, FileDescriptor fanotify)
      : root_(std::move(root)), fanotify_(std::move(fanotify)) {}
  // Adds `relative` and every directory below it to the table (marking any filesystem not
  // marked yet); with `report_files`, every file found is a pending change.
  Status AddTree(const std::string& relative, PendingChanges* report_files);
  Status AddDirectory(const std::string& relative);
  Status MarkFilesystem(int directory_fd, const std::filesystem::path& path);
  // Drops `relative` and every directory below it from the table.
  void ForgetTree(const std::string& relative);
  void Handle(const FanotifyEvent& event, PendingChanges& changes);

  std::filesystem::path root_;
  FileDescriptor fanotify_;
  std::unordered_map<std::string, std::string> directory_by_key_;  // handle key -> relative dir
  // relative dir -> handle key; sorted, so the directories under one are a range
  std::map<std::string, std::string> key_by_directory_;
  std::set<dev_t> marked_filesystems_;  // st_dev of each filesystem marked
  std::string lookup_key_;  // reused by Handle: no allocation per event of another directory
};

}  // namespace vigil::integrity
