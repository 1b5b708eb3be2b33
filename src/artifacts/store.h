// The artifact store's file layer: content-addressed, immutable files on disk
// (docs/artifacts.md#on-disk).
//
//   <dir>/sha256/<hex>              a complete artifact; its name is its SHA-256
//   <dir>/uploads/<hex>.partial     an upload in progress (the bytes received so far)
//
// A file appears under sha256/ only through UploadSession::Finish: the partial reached its
// declared size, its SHA-256 equals its name, it was fsynced, renamed with RENAME_NOREPLACE
// (a stored artifact is never overwritten) and the directory fsynced. After kill -9 or a power
// loss an artifact is therefore absent or complete, and a partial is at most a prefix of
// something: it is resumed from its size or ages out, and it is never served.
//
// Bounded: artifact size (artifact_bytes_max), partial files at once (uploads_max), partial
// age (partial_age_max, measured from its last write).
//
// Thread-safety: every method may be called from any thread. At most one UploadSession per
// digest exists at a time (a second BeginUpload is refused), so two clients never write one
// partial. Reads of stored artifacts need no lock: the files never change.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>

#include "common/error.h"
#include "common/limits.h"
#include "crypto/crypto.h"

namespace vigil::artifacts {

struct ArtifactStoreOptions {
  std::filesystem::path directory;
  uint64_t artifact_bytes_max = limits::kArtifactBytesMaxDefault;
  size_t uploads_max = limits::kArtifactUploadsMaxDefault;
  std::chrono::seconds partial_age_max = limits::kArtifactPartialAgeMaxDefault;
};

// "<64 lower-case hex>" for a digest, and back (refuses anything else, upper case included,
// so one artifact has one name).
std::string DigestToHex(const crypto::Sha256Digest& digest);
Expected<crypto::Sha256Digest> DigestFromHex(std::string_view hex);

// A stored artifact opened for reading. The descriptor stays valid while this object lives.
class ArtifactFile {
 public:
  ArtifactFile(int fd, uint64_t size_bytes) : fd_(fd), size_bytes_(size_bytes) {}
  ~ArtifactFile();
  ArtifactFile(const ArtifactFile&) = delete;
  ArtifactFile& operator=(const ArtifactFile&) = delete;

  uint64_t size_bytes() const { return size_bytes_; }
  // Reads up to buffer.size() bytes at `offset`; 0 only at or past the end.
  Expected<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) const;

 private:
  int fd_;
  uint64_t size_bytes_;
};

class ArtifactStore;

// The right to append to one partial upload, from its current size. Destroying it releases
// the digest for the next chunk (the partial stays on disk).
class UploadSession {
 public:
  ~UploadSession();
  UploadSession(const UploadSession&) = delete;
  UploadSession& operator=(const UploadSession&) = delete;

  uint64_t offset_bytes() const { return offset_bytes_; }
  uint64_t total_bytes() const { return total_bytes_; }
  bool complete() const { return offset_bytes_ == total_bytes_; }

  // Appends at the current offset. Refuses (kInvalidArgument) bytes beyond the total.
  Status Append(ByteSpan bytes);
  // Once complete: checks size and SHA-256, then commits the artifact durably. On a digest
  // mismatch the partial is deleted and kCorruption says what arrived instead. Calling it
  // before the upload is complete is a programming error.
  Status Finish();

 private:
  friend class ArtifactStore;
  UploadSession(ArtifactStore* store, const crypto::Sha256Digest& digest, int fd,
                uint64_t offset_bytes, uint64_t total_bytes)
      : store_(store), digest_(digest), fd_(fd), offset_bytes_(offset_bytes),
        total_bytes_(total_bytes) {}
  ArtifactStore* store_;
  crypto::Sha256Digest digest_;
  int fd_;
  uint64_t offset_bytes_;
  uint64_t total_bytes_;
  bool finished_ = false;
};

class ArtifactStore {
 public:
  // Creates the directories if missing, deletes partials older than partial_age_max and
  // files whose names are not artifacts or partials.
  static Expected<std::unique_ptr<ArtifactStore>> Open(ArtifactStoreOptions options);
  ArtifactStore(const ArtifactStore&) = delete;
  ArtifactStore& operator=(const ArtifactStore&) = delete;

  const ArtifactStoreOptions& options() const { return options_; }
  std::filesystem::path ArtifactPath(const crypto::Sha256Digest& digest) const;
  std::filesystem::path PartialPath(const crypto::Sha256Digest& digest) const;

  // The size of a stored artifact, or nullopt when it is not stored.
  std::optional<uint64_t> StoredSize(const crypto::Sha256Digest& digest) const;
  // kNotFound when it is not stored.
  Expected<std::unique_ptr<ArtifactFile>> OpenArtifact(const crypto::Sha256Digest& digest) const;

  // Bytes of the partial upload received so far, or nullopt when none is in progress.
  std::optional<uint64_t> UploadOffset(const crypto::Sha256Digest& digest) const;

  // Starts appending the chunk that begins at `offset_bytes` of an artifact of `total_bytes`.
  // Refuses with:
  //   kAlreadyExists      the artifact is stored
  //   kResourceExhausted  total_bytes exceeds artifact_bytes_max, or uploads_max partials exist
  //   kRefused            offset_bytes is not the partial's size (UploadOffset says what is)
  //   kUnavailable        another chunk of this digest is being written right now
  Expected<std::unique_ptr<UploadSession>> BeginUpload(const crypto::Sha256Digest& digest,
                                                       uint64_t total_bytes,
                                                       uint64_t offset_bytes);

  // Deletes partials not written for partial_age_max (BeginUpload also does it). Returns how
  // many it deleted.
  size_t PruneStalePartials();

 private:
  friend class UploadSession;
  explicit ArtifactStore(ArtifactStoreOptions options) : options_(std::move(options)) {}
  Status Scan();
  void EndSession(const crypto::Sha256Digest& digest);
  size_t PruneStalePartialsLocked();

  ArtifactStoreOptions options_;
  mutable std::mutex mutex_;
  std::set<crypto::Sha256Digest> writing_;  // digests with a live UploadSession
};

}  // namespace vigil::artifacts
