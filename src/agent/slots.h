// Where an app's releases live on the device (docs/agent.md#layout):
//
//   <root>/apps/<app>/slots/<version>-<digest prefix>/           one unpacked, verified release
//   <root>/apps/<app>/slots/<version>-<digest prefix>.manifest   its manifest (canonical bytes)
//   <root>/apps/<app>/current  -> slots/<slot>                   what runs (symlink)
//   <root>/apps/<app>/previous -> slots/<slot>                   what ran before it
//   <root>/apps/<app>/updater.record                             the updater's record
//   <root>/apps/<app>/app.log, app.log.1, app.pid                the supervisor's files
//   <root>/apps/<app>/data/                                      the app's own files (below)
//
// The app, its health command and its hooks run in the slot (cwd) with AppEnvironment: where
// the slot is, and a data directory, kept across versions and rollbacks and not watched for
// integrity, for whatever the app writes (state, caches, its own logs). The slot itself is
// read-only by contract: a file the app adds or changes there is tampering, and is undone.
//
// A slot directory exists only once it is complete: the manifest is written first, then
// release::UnpackBundle extracts into a hidden directory, verifies and fsyncs every file and
// renames it into place; VerifyTree then hashes the tree once more. The links are switched
// atomically: a `<link>.tmp` symlink is created, renamed over the link, and the directory is
// fsynced, so after a crash a link names the old slot or the new one.
//
// Thread-safety: functions over paths; one caller per app at a time.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "agent/process.h"
#include "common/error.h"
#include "crypto/crypto.h"
#include "release/manifest.h"

namespace vigil::agent {

class AppLayout {
 public:
  AppLayout(const std::filesystem::path& root, std::string app)
      : app_(std::move(app)), directory_(root / "apps" / app_) {}
  const std::string& app() const { return app_; }
  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path slots() const { return directory_ / "slots"; }
  std::filesystem::path slot(const std::string& name) const { return slots() / name; }
  std::filesystem::path manifest(const std::string& name) const {
    return slots() / (name + ".manifest");
  }
  std::filesystem::path current() const { return directory_ / "current"; }
  std::filesystem::path previous() const { return directory_ / "previous"; }
  std::filesystem::path record() const { return directory_ / "updater.record"; }
  std::filesystem::path log() const { return directory_ / "app.log"; }
  std::filesystem::path pid() const { return directory_ / "app.pid"; }
  std::filesystem::path hook_log() const { return directory_ / "hook.log"; }  // last hook's output
  std::filesystem::path data() const { return directory_ / "data"; }

  Status Create() const;  // the app's directory, its slots directory and its data directory

 private:
  std::string app_;
  std::filesystem::path directory_;
};

// What the app of `slot` (a release of `version`) finds in its environment, besides the
// agent's own: VIGIL_APP (the app's name), VIGIL_APP_VERSION, VIGIL_APP_SLOT (the slot, also
// the cwd) and VIGIL_APP_DATA (layout.data()), as absolute paths.
Environment AppEnvironment(const AppLayout& layout, const std::string& version,
                           const std::string& slot);

// "<version>-<first limits::kAgentSlotDigestHexDigits hex digits of the bundle digest>".
std::string SlotName(const std::string& version, const crypto::Sha256Digest& bundle_digest);

struct InstalledSlot {
  release::Manifest manifest;
  std::chrono::milliseconds verification{0};  // the VerifyTree pass after unpacking
};

// Unpacks `bundle` into the slot `name` (which must not exist: DeleteSlot first) and checks
// that its manifest is the one the ledger recorded (`manifest_root`) for `app`.
Expected<InstalledSlot> InstallSlot(const AppLayout& layout, const std::string& name,
                                    const std::filesystem::path& bundle,
                                    const crypto::Sha256Digest& manifest_root);

// The updater's unpack step, for the agent and the rollout bench's simulated devices alike:
// InstallSlot, and the bundle must hold the `version` the ledger recorded (checked on its
// manifest before anything is written, so a refused bundle leaves no slot). The bundle's own
// digest is not hashed again: the device session checked it as the bytes arrived, and every
// installed byte is checked against the manifest whose root the ledger recorded (each file's
// SHA-256, the archive's digest), so a bundle changed on disk since cannot install anything
// the ledger did not record.
Expected<InstalledSlot> InstallRelease(const AppLayout& layout, const std::string& name,
                                       const std::filesystem::path& bundle,
                                       const crypto::Sha256Digest& manifest_root,
                                       const std::string& version);

// Removes the slot, its manifest and any abandoned partial unpack; durable. Missing is fine.
Status DeleteSlot(const AppLayout& layout, const std::string& name);

// The manifest stored beside a slot, decoded strictly.
Expected<release::Manifest> LoadSlotManifest(const AppLayout& layout, const std::string& name);

// Points `link` (current or previous) at slots/<name> atomically; an empty name removes it.
Status SwitchLink(const std::filesystem::path& link, const std::string& name);
// The slot name a link points at; nullopt when the link does not exist.
Expected<std::optional<std::string>> ReadLink(const std::filesystem::path& link);

// Deletes every slot (and manifest, and partial unpack) not named in `keep`; looks at most at
// limits::kAgentSlotEntriesScannedMax entries. Returns how many slots it removed.
Expected<size_t> CollectGarbage(const AppLayout& layout, const std::set<std::string>& keep);

}  // namespace vigil::agent
