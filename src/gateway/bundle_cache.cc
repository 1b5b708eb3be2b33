#include "gateway/bundle_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "common/file.h"
#include "common/limits.h"

namespace vigil::gateway {
namespace {

// Closes a file descriptor on scope exit.
class ScopedFile {
 public:
  explicit ScopedFile(int fd) : fd_(fd) {}
  ~ScopedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFile(const ScopedFile&) = delete;
  ScopedFile& operator=(const ScopedFile&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Error FileError(std::string_view what, const std::filesystem::path& path) {
  return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIOError,
               std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

std::optional<crypto::Sha256Digest> DigestFromFileName(const std::string& name) {
  if (name.size() != 2 * limits::kSha256DigestBytes) return std::nullopt;
  auto digest = FixedFromHex<limits::kSha256DigestBytes>(name);
  if (!digest || ToHex(*digest) != name) return std::nullopt;  // lower-case hex only
  return *digest;
}

}  // namespace

Expected<BundleCache> BundleCache::Open(const std::filesystem::path& directory,
                                        uint64_t bytes_max) {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  BundleCache cache(directory, bytes_max);
  std::error_code error;
  std::vector<std::filesystem::path> to_delete;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    std::string name = entry.path().filename().string();
    auto digest = DigestFromFileName(name);
    if (!digest || !entry.is_regular_file()) {
      to_delete.push_back(entry.path());  // a leftover temporary file, or a stranger
      continue;
    }
    auto actual = crypto::Sha256OfFile(entry.path());
    if (!actual || *actual != *digest) {
      spdlog::warn("gateway cache: {} does not hash to its name; deleted", entry.path().string());
      to_delete.push_back(entry.path());
      continue;
    }
    uint64_t size = entry.file_size();
    cache.entries_[*digest] = Entry{.size_bytes = size, .last_used = ++cache.use_counter_};
    cache.bytes_ += size;
  }
  if (error) {
    return Fail(ErrorCode::kIOError,
                "cannot list the cache directory " + directory.string() + ": " + error.message());
  }
  for (const auto& path : to_delete) std::filesystem::remove_all(path, error);
  cache.EvictToFit();
  return cache;
}

bool BundleCache::Contains(const crypto::Sha256Digest& digest) const {
  return entries_.contains(digest);
}

std::filesystem::path BundleCache::PathOf(const crypto::Sha256Digest& digest) const {
  return directory_ / ToHex(digest);
}

std::filesystem::path BundleCache::TemporaryPathFor(const crypto::Sha256Digest& digest) const {
  return directory_ / (ToHex(digest) + ".partial");
}

Status BundleCache::Insert(const crypto::Sha256Digest& digest, uint64_t size_bytes,
                           const std::filesystem::path& file) {
  auto reject = [&](std::string message) -> Status {
    std::error_code ignored;
    std::filesystem::remove(file, ignored);
    return Fail(ErrorCode::kCorruption, std::move(message));
  };
  std::error_code error;
  uint64_t actual_size = std::filesystem::file_size(file, error);
  if (error) return Fail(ErrorCode::kIOError, "cannot stat " + file.string() + ": " + error.message());
  if (actual_size != size_bytes) {
    return reject("the bundle has " + std::to_string(actual_size) + " bytes; the ledger says " +
                  std::to_string(size_bytes));
  }
  VIGIL_ASSIGN_OR_RETURN(crypto::Sha256Digest actual, crypto::Sha256OfFile(file));
  if (actual != digest) {
    return reject("the bundle hashes to " + ToHex(actual) + "; the ledger says " + ToHex(digest));
  }
  VIGIL_RETURN_IF_ERROR(RenameDurably(file, PathOf(digest)));
  auto [entry, inserted] = entries_.try_emplace(digest);
  if (!inserted) bytes_ -= entry->second.size_bytes;
  entry->second = Entry{.size_bytes = size_bytes, .last_used = ++use_counter_};
  bytes_ += size_bytes;
  EvictToFit();
  return Ok();
}

Expected<size_t> BundleCache::ReadableLength(const crypto::Sha256Digest& digest, uint64_t offset,
                                             size_t length) const {
  auto entry = entries_.find(digest);
  if (entry == entries_.end()) {
    return Fail(ErrorCode::kNotFound, "bundle " + ToHex(digest) + " is not in the cache");
  }
  if (offset >= entry->second.size_bytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "offset " + std::to_string(offset) + " is past the bundle's " +
                    std::to_string(entry->second.size_bytes) + " bytes");
  }
  return static_cast<size_t>(std::min<uint64_t>(length, entry->second.size_bytes - offset));
}

Status BundleCache::ReadInto(const crypto::Sha256Digest& digest, uint64_t offset,
                             std::span<uint8_t> out) {
  VIGIL_ASSIGN_OR_RETURN(size_t readable, ReadableLength(digest, offset, out.size()));
  if (readable != out.size()) {
    return Fail(ErrorCode::kInvalidArgument, "range past the end of bundle " + ToHex(digest));
  }
  entries_.find(digest)->second.last_used = ++use_counter_;
  ScopedFile file(::open(PathOf(digest).c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return std::unexpected(FileError("cannot open", PathOf(digest)));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t read = ::pread(file.get(), out.data() + done, out.size() - done,
                           static_cast<off_t>(offset + done));
    if (read < 0 && errno == EINTR) continue;
    if (read <= 0) return std::unexpected(FileError("cannot read", PathOf(digest)));
    done += static_cast<size_t>(read);
  }
  return Ok();
}

void BundleCache::EvictToFit() {
  while (bytes_ > bytes_max_) {
    auto victim = entries_.end();
    for (auto entry = entries_.begin(); entry != entries_.end(); ++entry) {
      if (pinned_.contains(entry->first)) continue;
      if (victim == entries_.end() || entry->second.last_used < victim->second.last_used) {
        victim = entry;
      }
    }
    if (victim == entries_.end()) {
      spdlog::warn("gateway cache: {} bytes of pinned bundles exceed the cache's {} bytes", bytes_,
                   bytes_max_);
      return;
    }
    std::error_code ignored;
    std::filesystem::remove(PathOf(victim->first), ignored);
    bytes_ -= victim->second.size_bytes;
    entries_.erase(victim);
  }
}

}  // namespace vigil::gateway
