// Release manifests: what a bundle holds and how to run it (pure, no I/O).
//
// A manifest names the app and its semantic version, every file of the release (path, size,
// permission bits, SHA-256), the command that starts the app, its health check and optional
// install hooks. Its canonical encoding (docs/bundle-format.md#manifest) is strict and
// limited; its Merkle root is what the publisher signs and the ledger records
// (ledger::PublishRelease::manifest_root):
//
//   leaf 0     = the header: the manifest's encoding without its files vector
//   leaf 1..n  = EncodeFileEntry(files[i - 1]), files sorted by path
//
// so one file can later be proven against the root alone (integrity monitoring), and a
// device's snapshot of what is on disk hashes the same leaves.
//
// Rules (each checked by ValidateManifest and DecodeManifest, each error names its field):
//  - app: the ledger's app-name charset; version: SemVer 2.0.0 (ledger/semver.h).
//  - paths: relative, '/'-separated, no empty, "." or ".." component, printable ASCII except
//    '\\', limits::kReleasePath*; sorted by byte order, unique, and no file is also the
//    directory of another ("a" and "a/b" together are refused).
//  - mode: permission bits 0..0777 only, owner-read (0400) required. setuid, setgid and sticky
//    are refused: a release must not grant privileges on the device it lands on.
//  - commands (entry, health command, hooks): argv, no NUL byte; argv[0] is either an absolute
//    normalised path (a system binary, e.g. /usr/bin/python3) or a path that names a file of
//    the manifest with the owner-execute bit (0100) set. entry is required; the others may be
//    empty.
//  - health: stay_up_seconds and timeout_seconds at most limits::kReleaseHealthSecondsMax.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec/codec.h"
#include "common/bytes.h"
#include "common/error.h"
#include "crypto/crypto.h"
#include "merkle/merkle.h"

namespace vigil::release {

// The manifest encoding this code writes and the only one it reads. DO NOT CHANGE: it is
// hashed into the manifest root.
inline constexpr uint32_t kManifestFormatVersion = 1;

// Permission bits a file may carry (rwx for owner, group, others; no setuid/setgid/sticky).
inline constexpr uint32_t kFileModeBits = 0777;
inline constexpr uint32_t kFileModeOwnerRead = 0400;
inline constexpr uint32_t kFileModeOwnerExecute = 0100;

struct HealthCheck {                 // all optional; an empty check means "stays up"
  uint32_t stay_up_seconds = 0;      // the app must stay running this long after start
  std::vector<std::string> command;  // argv run in the slot directory; must exit 0
  uint16_t tcp_port = 0;             // 127.0.0.1:port must accept a connection
  uint32_t timeout_seconds = 0;      // 0 = limits default: how long checks may take in total
  friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

struct InstallHooks {
  std::vector<std::string> pre_activate;   // argv run in the new slot before the switch
  std::vector<std::string> post_activate;  // argv run in the new slot after the switch
  friend bool operator==(const InstallHooks&, const InstallHooks&) = default;
};

struct FileEntry {
  std::string path;  // relative, '/'-separated, normalised, confined; sorted unique in a manifest
  uint64_t size_bytes = 0;
  uint32_t mode = 0;  // permission bits only: 0..0777, owner-read required (see above)
  crypto::Sha256Digest sha256{};
  friend bool operator==(const FileEntry&, const FileEntry&) = default;
};

struct Manifest {
  uint32_t format_version = kManifestFormatVersion;
  std::string app;                 // same charset as the ledger's app names
  std::string version;             // SemVer 2.0.0 (ledger/semver.h)
  std::vector<std::string> entry;  // argv; entry[0] relative to the slot dir or absolute
  HealthCheck health;
  InstallHooks hooks;
  std::vector<FileEntry> files;  // sorted by path, unique
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// Canonical bytes (docs/bundle-format.md#manifest). EncodeManifest = header ‖ files vector.
Bytes EncodeManifest(const Manifest& manifest);
// Leaf 0 of the manifest tree: everything but the files vector.
Bytes EncodeManifestHeader(const Manifest& manifest);
// A leaf 1..n: string path, u64 size_bytes, u32 mode, fixed[32] sha256.
Bytes EncodeFileEntry(const FileEntry& file);

// Strict: limits, canonical form, no trailing bytes, and every rule above.
Expected<Manifest> DecodeManifest(ByteSpan bytes);
// Every rule above, for manifests built in memory (the builder checks before writing).
Status ValidateManifest(const Manifest& manifest);
// The path rules alone (also used to check archive entry names and unpack targets).
Status ValidateRelativePath(std::string_view field, std::string_view path);

// The Merkle tree of the manifest (leaf 0 header, leaves 1..n files) and its root.
merkle::Tree ManifestTree(const Manifest& manifest);
crypto::Sha256Digest ManifestRoot(const Manifest& manifest);
// Leaf index of files[file_index] in ManifestTree (for per-file inclusion proofs).
inline uint64_t FileLeafIndex(size_t file_index) { return file_index + 1; }

// Sum of the files' sizes (bounded by limits::kReleaseUnpackedBytesMax in a valid manifest).
uint64_t TotalSizeBytes(const Manifest& manifest);
// The file with this path, or nullptr (binary search: files are sorted).
const FileEntry* FindFile(const Manifest& manifest, std::string_view path);

}  // namespace vigil::release
