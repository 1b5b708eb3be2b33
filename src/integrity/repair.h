// integrity: the pristine store and repair (edge: file-system I/O).
//
// `PristineStore` is a local content-addressed store: `<dir>/<sha256 hex>` holds a copy of
// every file of the staged and active releases, added when a release is staged. A copy is
// trusted only after its digest is checked again at use: repair hashes it while copying it
// into place, and a copy that no longer matches its name is reported "needs fetch" (the agent
// then fetches the file from the gateway) and never installed.
//
// `Repair` undoes a list of differences (snapshot.h) under a release root:
//   - modified content/mode/owner, removed, replaced by a link or another kind of file: the
//     pristine copy is written to a temporary file in the same directory, verified, given the
//     manifest's mode (and owner, when one is expected), fsync'ed, renamed over the path, and
//     the directory fsync'ed — after a crash the path holds the old or the repaired file;
//   - added: the file is deleted (and the directory fsync'ed).
// Every directory on the way is opened without following links (a directory replaced by a
// link is replaced by a real directory again), so a repair never writes outside the root.
//
// Thread-safety: a PristineStore may be used from several threads (it holds only its path);
// Repair calls for different roots may run concurrently.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file.h"
#include "integrity/snapshot.h"
#include "release/manifest.h"

namespace vigil::integrity {

class PristineStore {
 public:
  // Creates the directory (mode 0700) when missing.
  static Expected<PristineStore> Open(const std::filesystem::path& directory);

  // Copies every file of `manifest` from `release_root` into the store, each verified against
  // the manifest's digest while it is copied (a mismatch fails naming the file).
  Status AddRelease(const release::Manifest& manifest, const std::filesystem::path& release_root);
  bool Contains(const crypto::Sha256Digest& sha256) const;
  std::filesystem::path PathOf(const crypto::Sha256Digest& sha256) const;
  const std::filesystem::path& directory() const { return directory_; }

 private:
  explicit PristineStore(std::filesystem::path directory) : directory_(std::move(directory)) {}
  std::filesystem::path directory_;
};

struct RepairOptions {
  // The owner restored files get (needs privileges); none = the repairing process's.
  std::optional<uint32_t> owner_uid;
  std::optional<uint32_t> owner_gid;
};

enum class RepairOutcome : uint8_t {
  kRestored = 1,    // the release's file is back (content, mode, owner)
  kDeleted = 2,     // an added file was removed
  kNeedsFetch = 3,  // the pristine copy is missing or damaged: fetch it, then repair again
  kFailed = 4,      // the file system refused (see detail)
};
std::string_view RepairOutcomeName(RepairOutcome outcome);

struct RepairAction {
  std::string path;
  DifferenceKind difference = DifferenceKind::kModified;
  RepairOutcome outcome = RepairOutcome::kFailed;
  std::string source;  // the pristine copy used (restored), "" otherwise
  std::string detail;  // why it needs a fetch or failed
  std::chrono::microseconds duration{0};
};

struct RepairReport {
  std::vector<RepairAction> actions;  // one per difference, in order
  std::chrono::microseconds duration{0};
  size_t Count(RepairOutcome outcome) const;
  bool Complete() const {
    return Count(RepairOutcome::kNeedsFetch) + Count(RepairOutcome::kFailed) == 0;
  }
};

RepairReport Repair(const std::filesystem::path& root, const std::vector<Difference>& differences,
                    const PristineStore& store, const RepairOptions& options = {});

}  // namespace vigil::integrity
