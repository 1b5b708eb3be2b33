#include "mempool/signature_cache.h"

#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/assert.h"

namespace vigil::mempool {

namespace {

uint64_t SecretOddMultiplier() {
  uint64_t multiplier = 0;
  VIGIL_ASSERT(RAND_bytes(reinterpret_cast<unsigned char*>(&multiplier), sizeof(multiplier)) == 1);
  return multiplier | 1;
}

}  // namespace

size_t SignatureCache::EntryHash::operator()(const crypto::Sha256Digest& entry) const {
  uint64_t prefix = 0;
  std::memcpy(&prefix, entry.data(), sizeof(prefix));
  // The product's high half mixes every bit of the prefix; bring it down.
  return static_cast<size_t>(std::rotr(prefix * multiplier, 32));
}

SignatureCache::SignatureCache(size_t entries_max)
    : entries_max_(entries_max), verified_(0, EntryHash{SecretOddMultiplier()}) {
  verified_.reserve(std::min<size_t>(entries_max, 1 << 16));
}

bool SignatureCache::Verify(const crypto::PublicKey& key, ByteSpan message,
                            const crypto::Signature& signature) {
  crypto::Sha256Digest entry = EntryOf(key, message, signature);
  if (verified_.contains(entry)) {
    ++hits_;
    return true;
  }
  ++misses_;
  if (!crypto::Verify(key, message, signature)) return false;  // failures are never cached
  Remember(entry);
  return true;
}

ledger::VerifyFunction SignatureCache::AsVerifyFunction() {
  return [this](const crypto::PublicKey& key, ByteSpan message,
                const crypto::Signature& signature) { return Verify(key, message, signature); };
}

crypto::Sha256Digest SignatureCache::EntryOf(const crypto::PublicKey& key, ByteSpan message,
                                             const crypto::Signature& signature) {
  // The message is hashed first so the entry is over fixed-size parts: (32, 64, 32) bytes leave
  // no ambiguity about where one part ends.
  crypto::Sha256Hasher hasher;
  hasher.Update(message);
  crypto::Sha256Digest message_digest = hasher.Finish();
  hasher.Update(key);
  hasher.Update(signature);
  hasher.Update(message_digest);
  return hasher.Finish();
}

void SignatureCache::RememberVerified(const crypto::Sha256Digest& entry) {
  if (verified_.contains(entry)) return;
  Remember(entry);
}

void SignatureCache::Remember(const crypto::Sha256Digest& entry) {
  if (entries_max_ == 0) return;
  if (verified_.size() == entries_max_) {
    verified_.erase(oldest_first_.front());
    oldest_first_.pop_front();
  }
  bool inserted = verified_.insert(entry).second;
  VIGIL_ASSERT(inserted);  // Verify only remembers what it did not find
  oldest_first_.push_back(entry);
  VIGIL_ASSERT(verified_.size() == oldest_first_.size());
}

}  // namespace vigil::mempool
