#include "integrity/watch_source.h"

#include "common/limits.h"

namespace vigil::integrity {

void PendingChanges::Add(std::string path) {
  if (full_scan_needed_) return;
  if (paths_.size() >= limits::kIntegrityPendingPathsMax) {
    NeedFullScan();
    return;
  }
  paths_.insert(std::move(path));
}

void PendingChanges::NeedFullScan() {
  full_scan_needed_ = true;
  paths_.clear();
}

WatchBatch PendingChanges::Take() {
  WatchBatch batch;
  batch.full_scan_needed = full_scan_needed_;
  full_scan_needed_ = false;
  auto it = paths_.begin();
  while (it != paths_.end() && batch.paths.size() < limits::kIntegrityDrainPathsMax) {
    batch.paths.push_back(*it);
    it = paths_.erase(it);
  }
  return batch;
}

std::string JoinRelative(const std::string& directory, std::string_view name) {
  if (directory.empty()) return std::string(name);
  return directory + "/" + std::string(name);
}

Status AddDirectoryTree(const std::filesystem::path& root, const std::string& relative,
                        const std::function<Status(const std::string&)>& add_directory,
                        PendingChanges* report_files) {
  VIGIL_RETURN_IF_ERROR(add_directory(relative));
  std::error_code error;
  std::filesystem::path base = relative.empty() ? root : root / relative;
  // recursive_directory_iterator does not follow directory links by default.
  for (auto it = std::filesystem::recursive_directory_iterator(base, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    std::string child = JoinRelative(relative, it->path().lexically_relative(base).string());
    if (it->is_directory(error) && !it->is_symlink(error)) {
      VIGIL_RETURN_IF_ERROR(add_directory(child));
    } else if (report_files != nullptr) {
      report_files->Add(std::move(child));
    }
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    return Fail(ErrorCode::kIOError, "walking " + base.string() + ": " + error.message());
  }
  return Ok();
}

}  // namespace vigil::integrity
