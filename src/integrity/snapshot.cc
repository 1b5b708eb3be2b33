#include "integrity/snapshot.h"

#include <sys/stat.h>

#include <algorithm>

#include "codec/codec.h"
#include "common/assert.h"
#include "merkle/merkle.h"

namespace vigil::integrity {

std::string_view FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kRegular:
      return "file";
    case FileKind::kSymlink:
      return "symlink";
    case FileKind::kOther:
      return "other";
  }
  return "unknown";
}

std::string_view DifferenceKindName(DifferenceKind kind) {
  switch (kind) {
    case DifferenceKind::kModified:
      return "modified";
    case DifferenceKind::kAdded:
      return "added";
    case DifferenceKind::kRemoved:
      return "removed";
    case DifferenceKind::kReplacedByLink:
      return "replaced by a symlink";
    case DifferenceKind::kReplacedByOther:
      return "replaced by a non-regular file";
  }
  return "unknown";
}

Bytes EncodeRecordLeaf(const FileRecord& record) {
  codec::Encoder encoder;
  encoder.WriteU8(kSnapshotLeafVersion);
  encoder.WriteU8(static_cast<uint8_t>(record.kind));
  encoder.WriteString(record.path);
  encoder.WriteU64(record.size_bytes);
  encoder.WriteU32(record.mode);
  encoder.WriteU32(record.owner_uid);
  encoder.WriteU32(record.owner_gid);
  encoder.WriteFixed(record.sha256);
  return std::move(encoder).Take();
}

void SortRecords(std::vector<FileRecord>& records) {
  std::sort(records.begin(), records.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
}

namespace {

void AssertSortedUnique(std::span<const FileRecord> records) {
  for (size_t i = 1; i < records.size(); ++i) {
    VIGIL_ASSERT(records[i - 1].path < records[i].path);
  }
}

// The manifest entry a record stands for in the release view.
release::FileEntry AsFileEntry(const FileRecord& record) {
  uint32_t type_bits = 0;
  if (record.kind == FileKind::kSymlink) type_bits = S_IFLNK;
  if (record.kind == FileKind::kOther) type_bits = S_IFIFO;
  return release::FileEntry{.path = record.path,
                            .size_bytes = record.size_bytes,
                            .mode = type_bits | record.mode,
                            .sha256 = record.sha256};
}

}  // namespace

crypto::Sha256Digest SnapshotRoot(std::span<const FileRecord> sorted_records) {
  AssertSortedUnique(sorted_records);
  std::vector<merkle::Hash> leaves;
  leaves.reserve(sorted_records.size());
  for (const auto& record : sorted_records) {
    leaves.push_back(merkle::HashLeaf(EncodeRecordLeaf(record)));
  }
  return merkle::Tree::FromLeafHashes(std::move(leaves)).Root();
}

crypto::Sha256Digest ReleaseViewRoot(const release::Manifest& manifest,
                                     std::span<const FileRecord> sorted_records) {
  AssertSortedUnique(sorted_records);
  std::vector<merkle::Hash> leaves;
  leaves.reserve(sorted_records.size() + 1);
  leaves.push_back(merkle::HashLeaf(release::EncodeManifestHeader(manifest)));
  for (const auto& record : sorted_records) {
    leaves.push_back(merkle::HashLeaf(release::EncodeFileEntry(AsFileEntry(record))));
  }
  return merkle::Tree::FromLeafHashes(std::move(leaves)).Root();
}

namespace {

// The difference between an expected file and what is at its path (both present).
std::optional<Difference> Compare(const release::FileEntry& expected, const FileRecord& actual,
                                  const DiffOptions& options) {
  Difference difference{.kind = DifferenceKind::kModified,
                        .path = expected.path,
                        .aspects = 0,
                        .expected = expected,
                        .actual = actual};
  if (actual.kind == FileKind::kSymlink) {
    difference.kind = DifferenceKind::kReplacedByLink;
    return difference;
  }
  if (actual.kind == FileKind::kOther) {
    difference.kind = DifferenceKind::kReplacedByOther;
    return difference;
  }
  if (actual.size_bytes != expected.size_bytes || actual.sha256 != expected.sha256) {
    difference.aspects |= kAspectContent;
  }
  if (actual.mode != expected.mode) difference.aspects |= kAspectMode;
  if ((options.expected_uid && actual.owner_uid != *options.expected_uid) ||
      (options.expected_gid && actual.owner_gid != *options.expected_gid)) {
    difference.aspects |= kAspectOwner;
  }
  if (difference.aspects == 0) return std::nullopt;
  return difference;
}

Difference Added(const FileRecord& actual) {
  return Difference{.kind = DifferenceKind::kAdded,
                    .path = actual.path,
                    .aspects = 0,
                    .expected = std::nullopt,
                    .actual = actual};
}

Difference Removed(const release::FileEntry& expected) {
  return Difference{.kind = DifferenceKind::kRemoved,
                    .path = expected.path,
                    .aspects = 0,
                    .expected = expected,
                    .actual = std::nullopt};
}

}  // namespace

std::vector<Difference> DiffAgainstManifest(const release::Manifest& manifest,
                                            std::span<const FileRecord> sorted_records,
                                            const DiffOptions& options) {
  AssertSortedUnique(sorted_records);
  std::vector<Difference> differences;
  const auto& files = manifest.files;
  size_t e = 0, a = 0;
  // A merge of two path-sorted lists.
  while (e < files.size() || a < sorted_records.size()) {
    if (a == sorted_records.size() ||
        (e < files.size() && files[e].path < sorted_records[a].path)) {
      differences.push_back(Removed(files[e++]));
    } else if (e == files.size() || sorted_records[a].path < files[e].path) {
      differences.push_back(Added(sorted_records[a++]));
    } else {
      if (auto difference = Compare(files[e], sorted_records[a], options)) {
        differences.push_back(std::move(*difference));
      }
      ++e;
      ++a;
    }
  }
  return differences;
}

std::optional<Difference> CheckOne(const release::Manifest& manifest, std::string_view path,
                                   const std::optional<FileRecord>& actual,
                                   const DiffOptions& options) {
  const release::FileEntry* expected = release::FindFile(manifest, path);
  if (expected == nullptr) {
    if (!actual) return std::nullopt;
    return Added(*actual);
  }
  if (!actual) return Removed(*expected);
  return Compare(*expected, *actual, options);
}

std::string DescribeDifference(const Difference& difference) {
  std::string text(DifferenceKindName(difference.kind));
  if (difference.kind == DifferenceKind::kModified) {
    std::string aspects;
    if (difference.aspects & kAspectContent) aspects += "content,";
    if (difference.aspects & kAspectMode) aspects += "mode,";
    if (difference.aspects & kAspectOwner) aspects += "owner,";
    if (!aspects.empty()) aspects.pop_back();
    text += " " + aspects;
  }
  return text + ": " + difference.path;
}

Snapshot MakeSnapshot(const release::Manifest& manifest, std::vector<FileRecord> records,
                      const DiffOptions& options) {
  SortRecords(records);
  Snapshot snapshot;
  snapshot.root = SnapshotRoot(records);
  snapshot.release_view_root = ReleaseViewRoot(manifest, records);
  snapshot.differences = DiffAgainstManifest(manifest, records, options);
  snapshot.records = std::move(records);
  return snapshot;
}

}  // namespace vigil::integrity
