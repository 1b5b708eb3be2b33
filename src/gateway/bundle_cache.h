// The gateway's bundle cache: verified release bundles on disk, content-addressed (the file
// name is the bundle's SHA-256), bounded in bytes, least recently used evicted first.
//
// A file enters the cache only through Insert, which re-hashes it and renames it into place
// (temp file, fsync, rename, fsync dir): a crash never leaves a file under a digest it does not
// have. Open re-hashes every file it finds and deletes those that do not match their name
// (and any leftover temporary file), so a damaged disk cannot make the gateway serve wrong
// bytes — though devices check every byte against the ledger's digest anyway.
//
// Pinned bundles (the latest release of each app, which devices are downloading) are never
// evicted; when only pinned bundles remain the cache may exceed its bound, and says so in
// the log.
//
// Thread-safety: none; the gateway uses it from its event loop. Insert's hashing runs there
// too: it is called from the fetch completion with a file of at most the release's size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>

#include "common/bytes.h"
#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::gateway {

class BundleCache {
 public:
  static Expected<BundleCache> Open(const std::filesystem::path& directory, uint64_t bytes_max);

  bool Contains(const crypto::Sha256Digest& digest) const;
  // Where a cached bundle lives (valid while it is cached).
  std::filesystem::path PathOf(const crypto::Sha256Digest& digest) const;
  // Where a fetch should write before Insert (inside the cache directory, so the rename is
  // atomic).
  std::filesystem::path TemporaryPathFor(const crypto::Sha256Digest& digest) const;

  // Verifies `file` is `size_bytes` bytes with SHA-256 `digest`, then moves it into the cache
  // and evicts what the bound requires. On a mismatch the file is deleted and the error says
  // what differed.
  Status Insert(const crypto::Sha256Digest& digest, uint64_t size_bytes,
                const std::filesystem::path& file);
  // How many of `length` bytes at `offset` the bundle has (fewer at its end); an error for a
  // bundle not cached or an offset past its end.
  Expected<size_t> ReadableLength(const crypto::Sha256Digest& digest, uint64_t offset,
                                  size_t length) const;
  // Fills `out` with the bundle's bytes at `offset` (a range ReadableLength allowed).
  Status ReadInto(const crypto::Sha256Digest& digest, uint64_t offset, std::span<uint8_t> out);

  void Pin(const crypto::Sha256Digest& digest) { pinned_.insert(digest); }
  void Unpin(const crypto::Sha256Digest& digest) { pinned_.erase(digest); }

  uint64_t bytes() const { return bytes_; }
  size_t count() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t size_bytes = 0;
    uint64_t last_used = 0;  // a counter, not a clock: the order of use is what matters
  };
  BundleCache(std::filesystem::path directory, uint64_t bytes_max)
      : directory_(std::move(directory)), bytes_max_(bytes_max) {}
  void EvictToFit();

  std::filesystem::path directory_;
  uint64_t bytes_max_ = 0;
  uint64_t bytes_ = 0;
  uint64_t use_counter_ = 0;
  std::map<crypto::Sha256Digest, Entry> entries_;
  std::set<crypto::Sha256Digest> pinned_;
};

}  // namespace vigil::gateway
