#include "artifacts/store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/file.h"
#include "common/log.h"

namespace vigil::artifacts {
namespace {

constexpr std::string_view kArtifactsDirectory = "sha256";
constexpr std::string_view kUploadsDirectory = "uploads";
constexpr std::string_view kPartialSuffix = ".partial";

std::unexpected<Error> SystemError(std::string_view what, const std::filesystem::path& path) {
  return Fail(ErrorCode::kIOError,
              std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

std::optional<std::filesystem::file_time_type> ModificationTime(const std::filesystem::path& path) {
  std::error_code error;
  auto time = std::filesystem::last_write_time(path, error);
  if (error) return std::nullopt;
  return time;
}

}  // namespace

std::string DigestToHex(const crypto::Sha256Digest& digest) { return ToHex(digest); }

Expected<crypto::Sha256Digest> DigestFromHex(std::string_view hex) {
  if (hex.size() != 2 * limits::kSha256DigestBytes) {
    return Fail(ErrorCode::kInvalidArgument, "a SHA-256 digest is 64 hex characters, not " +
                                                 std::to_string(hex.size()));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Fail(ErrorCode::kInvalidArgument, "a digest is written in lower-case hex");
    }
  }
  return FixedFromHex<limits::kSha256DigestBytes>(hex);
}

// --- ArtifactFile ---

ArtifactFile::~ArtifactFile() { ::close(fd_); }

Expected<size_t> ArtifactFile::ReadAt(uint64_t offset, std::span<uint8_t> buffer) const {
  for (;;) {
    ssize_t read = ::pread(fd_, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (read >= 0) return static_cast<size_t>(read);
    if (errno != EINTR) {
      return Fail(ErrorCode::kIOError, "reading an artifact: " + std::string(std::strerror(errno)));
    }
  }
}

// --- UploadSession ---

UploadSession::~UploadSession() {
  if (fd_ >= 0) ::close(fd_);
  store_->EndSession(digest_);
}

Status UploadSession::Append(ByteSpan bytes) {
  VIGIL_ASSERT(!finished_);
  if (bytes.size() > total_bytes_ - offset_bytes_) {
    return Fail(ErrorCode::kInvalidArgument,
                "the upload goes past its declared size of " + std::to_string(total_bytes_) +
                    " bytes");
  }
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t result = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      return SystemError("writing", store_->PartialPath(digest_));
    }
    written += static_cast<size_t>(result);
    offset_bytes_ += static_cast<uint64_t>(result);
  }
  return Ok();
}

Status UploadSession::Finish() {
  VIGIL_ASSERT(complete() && !finished_);
  finished_ = true;
  const auto partial = store_->PartialPath(digest_);
  // Hash what is on disk, not what passed through memory: a chunk written by an earlier
  // session (or before a crash) counts only as the disk holds it.
  crypto::Sha256Hasher hasher;
  std::vector<uint8_t> buffer(limits::kArtifactReadChunkBytes);
  uint64_t offset = 0;
  for (;;) {
    ssize_t read = ::pread(fd_, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (read < 0) {
      if (errno == EINTR) continue;
      return SystemError("reading", partial);
    }
    if (read == 0) break;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(read)));
    offset += static_cast<uint64_t>(read);
  }
  crypto::Sha256Digest actual = hasher.Finish();
  if (offset != total_bytes_ || actual != digest_) {
    ::unlink(partial.c_str());
    return Fail(ErrorCode::kCorruption,
                "the uploaded bytes (" + std::to_string(offset) + " bytes, SHA-256 " +
                    DigestToHex(actual) + ") do not match the digest " + DigestToHex(digest_) +
                    "; the partial upload was deleted");
  }
  if (::fsync(fd_) != 0) return SystemError("fsync", partial);
  const auto target = store_->ArtifactPath(digest_);
  // RENAME_NOREPLACE: a stored artifact is never overwritten, even by identical bytes.
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      ::unlink(partial.c_str());
      return Fail(ErrorCode::kAlreadyExists, "the artifact is already stored");
    }
    return SystemError("renaming", partial);
  }
  VIGIL_RETURN_IF_ERROR(SyncDirectory(target.parent_path()));
  VIGIL_RETURN_IF_ERROR(SyncDirectory(partial.parent_path()));
  return Ok();
}

// --- ArtifactStore ---

Expected<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(ArtifactStoreOptions options) {
  if (options.directory.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the artifact store needs a directory");
  }
  if (options.uploads_max == 0) {
    return Fail(ErrorCode::kInvalidArgument, "uploads_max must be at least 1");
  }
  std::unique_ptr<ArtifactStore> store(new ArtifactStore(std::move(options)));
  VIGIL_RETURN_IF_ERROR(store->Scan());
  return store;
}

Status ArtifactStore::Scan() {
  const auto artifacts = options_.directory / kArtifactsDirectory;
  const auto uploads = options_.directory / kUploadsDirectory;
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(artifacts, 0755));
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(uploads, 0700));
  std::error_code error;
  // Nothing but complete artifacts is ever renamed into sha256/, so a stray name there was
  // put by hand; it is left alone but never served (its name is not a digest).
  for (const auto& entry : std::filesystem::directory_iterator(uploads, error)) {
    std::string name = entry.path().filename().string();
    bool valid = name.size() == 64 + kPartialSuffix.size() && name.ends_with(kPartialSuffix) &&
                 DigestFromHex(std::string_view(name).substr(0, 64)).has_value();
    if (!valid) {
      spdlog::warn("artifacts removing_stray_upload_file path={}", LogValue(entry.path().string()));
      std::filesystem::remove_all(entry.path(), error);
    }
  }
  if (error) {
    return Fail(ErrorCode::kIOError, "scanning " + uploads.string() + ": " + error.message());
  }
  std::lock_guard lock(mutex_);
  PruneStalePartialsLocked();
  return Ok();
}

std::filesystem::path ArtifactStore::ArtifactPath(const crypto::Sha256Digest& digest) const {
  return options_.directory / kArtifactsDirectory / DigestToHex(digest);
}

std::filesystem::path ArtifactStore::PartialPath(const crypto::Sha256Digest& digest) const {
  return options_.directory / kUploadsDirectory / (DigestToHex(digest) + std::string(kPartialSuffix));
}

std::optional<uint64_t> ArtifactStore::StoredSize(const crypto::Sha256Digest& digest) const {
  struct stat status {};
  if (::stat(ArtifactPath(digest).c_str(), &status) != 0 || !S_ISREG(status.st_mode)) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(status.st_size);
}

Expected<std::unique_ptr<ArtifactFile>> ArtifactStore::OpenArtifact(
    const crypto::Sha256Digest& digest) const {
  const auto path = ArtifactPath(digest);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no artifact " + DigestToHex(digest));
    return SystemError("opening", path);
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kIOError, path.string() + " is not a regular file");
  }
  return std::make_unique<ArtifactFile>(fd, static_cast<uint64_t>(status.st_size));
}

std::optional<uint64_t> ArtifactStore::UploadOffset(const crypto::Sha256Digest& digest) const {
  struct stat status {};
  if (::stat(PartialPath(digest).c_str(), &status) != 0) return std::nullopt;
  return static_cast<uint64_t>(status.st_size);
}

Expected<std::unique_ptr<UploadSession>> ArtifactStore::BeginUpload(
    const crypto::Sha256Digest& digest, uint64_t total_bytes, uint64_t offset_bytes) {
  if (total_bytes > options_.artifact_bytes_max) {
    return Fail(ErrorCode::kResourceExhausted,
                "the artifact is " + std::to_string(total_bytes) + " bytes; this store keeps at most " +
                    std::to_string(options_.artifact_bytes_max));
  }
  std::lock_guard lock(mutex_);
  if (StoredSize(digest)) return Fail(ErrorCode::kAlreadyExists, "the artifact is already stored");
  if (writing_.contains(digest)) {
    return Fail(ErrorCode::kUnavailable, "another chunk of this artifact is being uploaded");
  }
  PruneStalePartialsLocked();
  const auto partial = PartialPath(digest);
  std::optional<uint64_t> current = UploadOffset(digest);
  if (!current) {
    size_t partials = 0;
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(options_.directory / kUploadsDirectory, error)) {
      (void)entry;
      ++partials;
    }
    if (partials >= options_.uploads_max) {
      return Fail(ErrorCode::kResourceExhausted,
                  std::to_string(partials) + " uploads are in progress (the most this store "
                  "allows); retry later");
    }
  }
  uint64_t have = current.value_or(0);
  if (offset_bytes != have || have > total_bytes) {
    return Fail(ErrorCode::kRefused, "the upload continues at byte " + std::to_string(have) +
                                         ", not at " + std::to_string(offset_bytes));
  }
  int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return SystemError("opening", partial);
  if (!current) {
    // The partial's directory entry must survive a crash for a resumed upload to find it.
    if (auto synced = SyncDirectory(partial.parent_path()); !synced) {
      ::close(fd);
      return std::unexpected(synced.error());
    }
  }
  writing_.insert(digest);
  return std::unique_ptr<UploadSession>(new UploadSession(this, digest, fd, have, total_bytes));
}

void ArtifactStore::EndSession(const crypto::Sha256Digest& digest) {
  std::lock_guard lock(mutex_);
  writing_.erase(digest);
}

size_t ArtifactStore::PruneStalePartials() {
  std::lock_guard lock(mutex_);
  return PruneStalePartialsLocked();
}

size_t ArtifactStore::PruneStalePartialsLocked() {
  const auto now = std::filesystem::file_time_type::clock::now();
  size_t removed = 0;
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.directory / kUploadsDirectory, error)) {
    auto name = entry.path().filename().string();
    auto digest = DigestFromHex(std::string_view(name).substr(0, std::min<size_t>(name.size(), 64)));
    if (digest && writing_.contains(*digest)) continue;
    auto time = ModificationTime(entry.path());
    if (time && now - *time > options_.partial_age_max) stale.push_back(entry.path());
  }
  for (const auto& path : stale) {
    spdlog::info("artifacts removing_stale_upload path={}", LogValue(path.string()));
    if (std::filesystem::remove(path, error)) ++removed;
  }
  return removed;
}

}  // namespace vigil::artifacts
