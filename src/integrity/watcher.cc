#include "integrity/watcher.h"

#include "integrity/fanotify_watch_source.h"
#include "integrity/inotify_watch_source.h"

namespace vigil::integrity {

std::string_view WatcherBackendName(WatcherBackend backend) {
  switch (backend) {
    case WatcherBackend::kAutomatic:
      return "auto";
    case WatcherBackend::kFanotify:
      return "fanotify";
    case WatcherBackend::kInotify:
      return "inotify";
  }
  return "unknown";
}

std::optional<WatcherBackend> ParseWatcherBackend(std::string_view name) {
  for (auto backend :
       {WatcherBackend::kAutomatic, WatcherBackend::kFanotify, WatcherBackend::kInotify}) {
    if (name == WatcherBackendName(backend)) return backend;
  }
  return std::nullopt;
}

Expected<std::unique_ptr<Watcher>> Watcher::Start(const std::filesystem::path& root,
                                                  WatcherBackend backend) {
  std::string fallback_reason;
  if (backend != WatcherBackend::kInotify) {
    auto fanotify = FanotifyWatchSource::Start(root);
    if (fanotify) {
      return std::unique_ptr<Watcher>(new Watcher(std::move(*fanotify), ""));
    }
    if (backend == WatcherBackend::kFanotify) {
      return std::unexpected(fanotify.error().WithContext("fanotify watcher of " + root.string()));
    }
    fallback_reason = fanotify.error().message();
  }
  auto inotify = InotifyWatchSource::Start(root);
  if (!inotify) return std::unexpected(inotify.error());
  return std::unique_ptr<Watcher>(new Watcher(std::move(*inotify), std::move(fallback_reason)));
}

Expected<WatchBatch> Watcher::Drain() {
  VIGIL_RETURN_IF_ERROR(source_->ReadEvents(pending_));
  return pending_.Take();
}

}  // namespace vigil::integrity
