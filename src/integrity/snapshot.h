// integrity: what is on a device's disk, compared with the release that should be there.
//
// This is the pure core of integrity monitoring (docs/integrity.md): no I/O, no clock.
//
//  - `FileRecord` is one entry of a directory tree as the scanner saw it: path, size,
//    permission bits, owner, SHA-256 and kind (regular file, symbolic link, anything else).
//  - A snapshot is the sorted list of records and its Merkle root (merkle/merkle.h), one leaf
//    per record, `EncodeRecordLeaf` (docs/integrity.md#snapshot-leaf). The root commits to the
//    owner and kind too, which a release manifest does not carry.
//  - `ReleaseViewRoot` hashes the records the way release::ManifestTree hashes a manifest (leaf
//    0 = the manifest header, leaves 1..n = release::EncodeFileEntry), so it equals the
//    manifest root exactly when the files on disk are exactly the release's: the ledger
//    compares it with the activated release's manifest root.
//  - `DiffAgainstManifest` lists every difference: content modified, mode changed, owner
//    changed, file added, file removed, file replaced by a link or by another kind of file.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "release/manifest.h"

namespace vigil::integrity {

// DO NOT CHANGE the numeric values: they are hashed into snapshot roots.
enum class FileKind : uint8_t {
  kRegular = 1,
  kSymlink = 2,  // sha256 = SHA-256 of the link's target text, size = its length
  kOther = 3,    // fifo, socket, device: sha256 all zero, size 0
};
std::string_view FileKindName(FileKind kind);

struct FileRecord {
  std::string path;  // relative to the scanned root, '/'-separated, never "." or ".."
  FileKind kind = FileKind::kRegular;
  uint64_t size_bytes = 0;
  uint32_t mode = 0;  // permission bits (07777), without the file-type bits
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  crypto::Sha256Digest sha256{};
  friend bool operator==(const FileRecord&, const FileRecord&) = default;
};

// The leaf encoding version. DO NOT CHANGE: it is the first byte of every snapshot leaf.
inline constexpr uint8_t kSnapshotLeafVersion = 1;

// u8 version, u8 kind, string path, u64 size, u32 mode, u32 uid, u32 gid, fixed[32] sha256.
Bytes EncodeRecordLeaf(const FileRecord& record);

// Records must be sorted by path (byte order) and unique; SortRecords does both checks' work.
void SortRecords(std::vector<FileRecord>& records);
// Merkle root over EncodeRecordLeaf of the sorted records (empty tree root when none).
crypto::Sha256Digest SnapshotRoot(std::span<const FileRecord> sorted_records);
// The manifest tree's root computed from what is on disk (see above). A non-regular record is
// encoded with its file-type bits in the mode (S_IFLNK...), which no manifest mode has.
crypto::Sha256Digest ReleaseViewRoot(const release::Manifest& manifest,
                                     std::span<const FileRecord> sorted_records);

// --- Differences ---

// DO NOT CHANGE the numeric values: they travel in ledger reports.
enum class DifferenceKind : uint8_t {
  kModified = 1,         // same path, a regular file: see `aspects`
  kAdded = 2,            // on disk, not in the manifest
  kRemoved = 3,          // in the manifest, not on disk
  kReplacedByLink = 4,   // the manifest's regular file is a symbolic link on disk
  kReplacedByOther = 5,  // ... is a fifo, socket or device on disk
};
std::string_view DifferenceKindName(DifferenceKind kind);

// What changed in a kModified file (bits; several may be set).
inline constexpr uint8_t kAspectContent = 1;  // size or SHA-256
inline constexpr uint8_t kAspectMode = 2;     // permission bits
inline constexpr uint8_t kAspectOwner = 4;    // uid or gid (only with an expected owner)

struct Difference {
  DifferenceKind kind = DifferenceKind::kModified;
  std::string path;
  uint8_t aspects = 0;                         // kModified only
  std::optional<release::FileEntry> expected;  // absent for kAdded
  std::optional<FileRecord> actual;            // absent for kRemoved
  friend bool operator==(const Difference&, const Difference&) = default;
};

struct DiffOptions {
  // The owner every release file should have (the agent installs them); none = not checked.
  std::optional<uint32_t> expected_uid;
  std::optional<uint32_t> expected_gid;
};

// Every difference between the manifest and the sorted records, sorted by path.
std::vector<Difference> DiffAgainstManifest(const release::Manifest& manifest,
                                            std::span<const FileRecord> sorted_records,
                                            const DiffOptions& options);

// The difference at one path: `actual` is what a re-check found there (nullopt = nothing).
std::optional<Difference> CheckOne(const release::Manifest& manifest, std::string_view path,
                                   const std::optional<FileRecord>& actual,
                                   const DiffOptions& options);

// "modified content,mode: bin/app", "added: tmp/x", ... for logs and reports.
std::string DescribeDifference(const Difference& difference);

// A snapshot: records, both roots and the differences from the manifest.
struct Snapshot {
  std::vector<FileRecord> records;           // sorted by path
  crypto::Sha256Digest root{};               // SnapshotRoot(records)
  crypto::Sha256Digest release_view_root{};  // ReleaseViewRoot(manifest, records)
  std::vector<Difference> differences;
  bool Clean() const { return differences.empty(); }
};
Snapshot MakeSnapshot(const release::Manifest& manifest, std::vector<FileRecord> records,
                      const DiffOptions& options);

}  // namespace vigil::integrity
