#include "agent/slots.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/updater.h"
#include "common/bytes.h"
#include "common/file.h"
#include "common/limits.h"
#include "release/bundle.h"

namespace vigil::agent {
namespace {

constexpr std::string_view kManifestSuffix = ".manifest";

Error IoError(const std::string& what, const std::error_code& error) {
  return Error(ErrorCode::kIOError, what + ": " + error.message());
}

}  // namespace

Status AppLayout::Create() const {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(slots(), 0755));
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(data(), 0750));
  return SyncDirectory(directory_.parent_path());
}

Environment AppEnvironment(const AppLayout& layout, const std::string& version,
                           const std::string& slot) {
  return {{"VIGIL_APP", layout.app()},
          {"VIGIL_APP_VERSION", version},
          {"VIGIL_APP_SLOT", std::filesystem::absolute(layout.slot(slot)).string()},
          {"VIGIL_APP_DATA", std::filesystem::absolute(layout.data()).string()}};
}

std::string SlotName(const std::string& version, const crypto::Sha256Digest& bundle_digest) {
  return version + "-" + ToHex(bundle_digest).substr(0, limits::kAgentSlotDigestHexDigits);
}

namespace {

// InstallSlot and InstallRelease: every check on the declared manifest (its root, its app and,
// when given, its version) comes before anything is written, so a refused bundle leaves no slot.
Expected<InstalledSlot> InstallChecked(const AppLayout& layout, const std::string& name,
                                       const std::filesystem::path& bundle,
                                       const crypto::Sha256Digest& manifest_root,
                                       const std::string* version) {
  VIGIL_ASSERT(IsValidSlotName(name));
  VIGIL_ASSIGN_OR_RETURN(release::Manifest declared, release::ReadBundleManifest(bundle));
  if (release::ManifestRoot(declared) != manifest_root) {
    return Fail(ErrorCode::kUnauthenticated,
                "the bundle's manifest root is not the one the ledger recorded");
  }
  if (declared.app != layout.app()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the bundle is for app '" + declared.app + "', not '" + layout.app() + "'");
  }
  if (version != nullptr && declared.version != *version) {
    return Fail(ErrorCode::kUnauthenticated,
                "the bundle holds version " + declared.version + ", not " + *version);
  }
  // The manifest goes first: a slot directory that exists always has its manifest beside it.
  VIGIL_RETURN_IF_ERROR(
      WriteFileAtomically(layout.manifest(name), release::EncodeManifest(declared), 0644));
  VIGIL_ASSIGN_OR_RETURN(release::Manifest unpacked,
                         release::UnpackBundle(bundle, layout.slot(name)));
  if (unpacked != declared) {
    return Fail(ErrorCode::kCorruption, "the bundle's manifest changed while it was unpacked");
  }
  auto begin = std::chrono::steady_clock::now();
  VIGIL_RETURN_IF_ERROR(release::VerifyTree(unpacked, layout.slot(name)));
  auto verification = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begin);
  return InstalledSlot{.manifest = std::move(unpacked), .verification = verification};
}

}  // namespace

Expected<InstalledSlot> InstallSlot(const AppLayout& layout, const std::string& name,
                                    const std::filesystem::path& bundle,
                                    const crypto::Sha256Digest& manifest_root) {
  return InstallChecked(layout, name, bundle, manifest_root, nullptr);
}

Expected<InstalledSlot> InstallRelease(const AppLayout& layout, const std::string& name,
                                       const std::filesystem::path& bundle,
                                       const crypto::Sha256Digest& manifest_root,
                                       const std::string& version) {
  return InstallChecked(layout, name, bundle, manifest_root, &version);
}

Status DeleteSlot(const AppLayout& layout, const std::string& name) {
  VIGIL_ASSERT(IsValidSlotName(name));
  std::error_code error;
  std::filesystem::remove_all(layout.slot(name), error);
  if (error) return std::unexpected(IoError("removing slot " + name, error));
  std::filesystem::remove(layout.manifest(name), error);
  if (error) return std::unexpected(IoError("removing the manifest of slot " + name, error));
  if (std::filesystem::exists(layout.slots())) {
    VIGIL_RETURN_IF_ERROR(release::RemoveAbandonedUnpacks(layout.slots()));
    VIGIL_RETURN_IF_ERROR(SyncDirectory(layout.slots()));
  }
  return Ok();
}

Expected<release::Manifest> LoadSlotManifest(const AppLayout& layout, const std::string& name) {
  VIGIL_ASSERT(IsValidSlotName(name));
  VIGIL_ASSIGN_OR_RETURN(Bytes bytes,
                         ReadFile(layout.manifest(name), limits::kReleaseManifestBytesMax));
  auto manifest = release::DecodeManifest(bytes);
  if (!manifest) {
    return std::unexpected(manifest.error().WithContext("manifest of slot " + name));
  }
  return manifest;
}

Status SwitchLink(const std::filesystem::path& link, const std::string& name) {
  std::error_code error;
  if (name.empty()) {
    std::filesystem::remove(link, error);
    if (error) return std::unexpected(IoError("removing " + link.string(), error));
    return SyncDirectory(link.parent_path());
  }
  VIGIL_ASSERT(IsValidSlotName(name));
  std::filesystem::path temporary = link.string() + ".tmp";
  std::filesystem::remove(temporary, error);
  // Relative, so the whole root can be moved or bind-mounted elsewhere.
  std::filesystem::create_directory_symlink(std::filesystem::path("slots") / name, temporary,
                                            error);
  if (error) return std::unexpected(IoError("creating " + temporary.string(), error));
  std::filesystem::rename(temporary, link, error);
  if (error) return std::unexpected(IoError("renaming over " + link.string(), error));
  return SyncDirectory(link.parent_path());
}

Expected<std::optional<std::string>> ReadLink(const std::filesystem::path& link) {
  std::error_code error;
  if (!std::filesystem::is_symlink(std::filesystem::symlink_status(link, error))) {
    return std::optional<std::string>();
  }
  std::filesystem::path target = std::filesystem::read_symlink(link, error);
  if (error) return std::unexpected(IoError("reading " + link.string(), error));
  std::string name = target.filename().string();
  if (target.parent_path() != "slots" || !IsValidSlotName(name)) {
    return Fail(ErrorCode::kCorruption,
                link.string() + " points at " + target.string() + ", not at a slot");
  }
  return std::optional<std::string>(name);
}

Expected<size_t> CollectGarbage(const AppLayout& layout, const std::set<std::string>& keep) {
  std::error_code error;
  if (!std::filesystem::exists(layout.slots())) return size_t{0};
  VIGIL_RETURN_IF_ERROR(release::RemoveAbandonedUnpacks(layout.slots()));
  std::set<std::string> doomed;
  size_t scanned = 0;
  for (const auto& entry : std::filesystem::directory_iterator(layout.slots(), error)) {
    if (++scanned > limits::kAgentSlotEntriesScannedMax) break;
    std::string name = entry.path().filename().string();
    if (name.ends_with(kManifestSuffix)) name.resize(name.size() - kManifestSuffix.size());
    if (IsValidSlotName(name) && !keep.contains(name)) doomed.insert(name);
  }
  if (error) return std::unexpected(IoError("listing " + layout.slots().string(), error));
  for (const std::string& name : doomed) VIGIL_RETURN_IF_ERROR(DeleteSlot(layout, name));
  return doomed.size();
}

}  // namespace vigil::agent
