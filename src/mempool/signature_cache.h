// A bounded memory of Ed25519 signature checks that passed, so a transaction verified once at
// mempool admission is not verified again when the block holding it is built, validated and
// executed (docs/mempool.md#signature-cache). Ed25519 verification is ~28,000 per second per
// core (libsodium) and most of block execution without the cache (docs/benchmarks.md); a
// cache hit is two SHA-256s and a hash-set lookup.
//
// Key: SHA-256(public key ‖ signature ‖ SHA-256(message)). Only successes are remembered: a
// failure is never cached, so a forged signature costs its sender a full verification every
// time and can never turn into a hit. A hit therefore means "this exact (key, message,
// signature) verified before", which is as good as verifying again.
//
// Bounded by `entries_max`; when full, the oldest entry is forgotten first (FIFO). FIFO rather
// than LRU because each signature is normally looked up a few times soon after admission (the
// proposer's BuildBlock, consensus's ValidateBlock, the commit's ExecuteBlock) and never again.
//
//   SignatureCache cache;
//   Mempool mempool(chain_id, {}, cache.AsVerifyFunction());       // verifies on admission
//   ExecuteBlock(state, block, {.verify = cache.AsVerifyFunction()});  // hits
//
// Thread-safety: none; one thread owns it (the peer's event loop), like every pure core.
// Ownership: AsVerifyFunction() captures `this`; the cache must outlive every copy of it, and
// it cannot be copied or moved so that a captured pointer cannot go stale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_set>

#include "common/bytes.h"
#include "common/limits.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"

namespace vigil::mempool {

class SignatureCache {
 public:
  explicit SignatureCache(size_t entries_max = limits::kSignatureCacheEntriesDefault);
  SignatureCache(const SignatureCache&) = delete;
  SignatureCache& operator=(const SignatureCache&) = delete;

  // True when `signature` is `key`'s valid signature of `message`: from the cache if this
  // exact triple verified before, else by crypto::Verify, remembering a success.
  bool Verify(const crypto::PublicKey& key, ByteSpan message, const crypto::Signature& signature);

  // A ledger::VerifyFunction that calls Verify on this cache (the cache must outlive it).
  ledger::VerifyFunction AsVerifyFunction();

  // The entry of a (key, message, signature) triple, for a check done elsewhere: a pure
  // function, safe on any thread (the peer verifies on worker threads and computes entries
  // there).
  static crypto::Sha256Digest EntryOf(const crypto::PublicKey& key, ByteSpan message,
                                      const crypto::Signature& signature);
  // Remembers an entry whose triple the caller verified with crypto::Verify (never a failure).
  void RememberVerified(const crypto::Sha256Digest& entry);

  size_t size() const { return verified_.size(); }
  size_t entries_max() const { return entries_max_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }  // lookups that ran crypto::Verify

 private:
  void Remember(const crypto::Sha256Digest& entry);

  size_t entries_max_;
  // Entries are SHA-256 outputs, so their first 8 bytes are already uniform; multiplying by a
  // secret odd number drawn at start-up keeps anyone who grinds signatures from aiming many
  // entries at one bucket (hash flooding). A hash set: the lookup is on the peer's hot path
  // (an ordered set's 17 comparisons of 32 bytes cost 3-4 % of its event loop at 9,000 tx/s).
  struct EntryHash {
    uint64_t multiplier;
    size_t operator()(const crypto::Sha256Digest& entry) const;
  };
  std::unordered_set<crypto::Sha256Digest, EntryHash> verified_;
  std::deque<crypto::Sha256Digest> oldest_first_;  // the same entries, in insertion order
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace vigil::mempool
