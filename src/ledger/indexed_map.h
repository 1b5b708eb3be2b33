// Hashed storage for the ledger state and its overlays (ledger/state.h).
//
// Execution mostly asks "what is under this key?" (a device, a signer's sequence, a compliance
// record), through a transaction's overlay, the block's (or the mempool's) and the state. With
// std::maps at every layer each lookup cost ~log2(n) key comparisons per layer: memcmp was the
// largest single cost of a peer under load (~9 % of the machine in `vigil bench ledger`). Here
// a lookup hashes its key once (HashedKey) and asks each layer's hash table:
//  - IndexedMap, the state's: an ordered map (prefix scans, the state digest, storage want key
//    order) plus a hash index over it;
//  - HashedWrites, an overlay's: a hash table alone; the key order is made when asked for (the
//    canonical write set at the end of a block, a rare prefix scan).
//
// Keys are hashed with crypto::ProcessKeyedHash (SipHash, keyed at random per process), so keys
// a client chooses (app names in reports) cannot be aimed at one bucket; and since no result
// ever depends on iterating a hash table, that randomness never reaches the ledger.
//
// Thread-safety: none; values like the std::maps they replace.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace vigil::ledger {

// A key with its hash, computed once per lookup however many layers (a transaction's overlay,
// the block's, the state) the lookup passes through.
struct HashedKey {
  explicit HashedKey(const Bytes& key) : bytes(key), hash(crypto::ProcessKeyedHash(key)) {}
  HashedKey(const Bytes& key, uint64_t key_hash) : bytes(key), hash(key_hash) {}
  const Bytes& bytes;
  uint64_t hash;
};

// An ordered map of byte-string keys and values with a hash index for point lookups. The index
// maps a view of each key (the bytes the ordered map's node owns, stable for the node's
// lifetime) and its hash to the node.
class IndexedMap {
 public:
  using Ordered = std::map<Bytes, Bytes>;

  IndexedMap() = default;
  explicit IndexedMap(Ordered entries) : entries_(std::move(entries)) { Reindex(); }
  IndexedMap(const IndexedMap& other) : entries_(other.entries_) { Reindex(); }
  IndexedMap& operator=(const IndexedMap& other) {
    if (this != &other) {
      entries_ = other.entries_;
      Reindex();
    }
    return *this;
  }
  // Moving a std::map moves its nodes, so the index's iterators stay valid in the new owner.
  IndexedMap(IndexedMap&& other) noexcept
      : entries_(std::move(other.entries_)), index_(std::move(other.index_)) {
    other.Clear();
  }
  IndexedMap& operator=(IndexedMap&& other) noexcept {
    if (this != &other) {
      entries_ = std::move(other.entries_);
      index_ = std::move(other.index_);
      other.Clear();
    }
    return *this;
  }

  const Bytes* Find(const HashedKey& key) const {
    auto found = index_.find(IndexKey{View(key.bytes), key.hash});
    return found == index_.end() ? nullptr : &found->second->second;
  }

  // Sets `key` to `value`, inserting it when new (the key is copied only then).
  void Set(const Bytes& key, Bytes value) {
    IndexKey probe{View(key), crypto::ProcessKeyedHash(key)};
    if (auto found = index_.find(probe); found != index_.end()) {
      found->second->second = std::move(value);
      return;
    }
    auto inserted = entries_.emplace(key, std::move(value)).first;
    index_.emplace(IndexKey{View(inserted->first), probe.hash}, inserted);
  }

  void Erase(const Bytes& key) {
    auto found = index_.find(IndexKey{View(key), crypto::ProcessKeyedHash(key)});
    if (found == index_.end()) return;
    auto entry = found->second;
    index_.erase(found);
    entries_.erase(entry);
  }

  void Clear() {
    index_.clear();
    entries_.clear();
  }

  const Ordered& ordered() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  // A view of a key the ordered map owns (stable for its node's lifetime), with its hash.
  struct IndexKey {
    std::string_view bytes;
    uint64_t hash;
    friend bool operator==(const IndexKey& left, const IndexKey& right) {
      return left.hash == right.hash && left.bytes == right.bytes;
    }
  };
  struct StoredHash {
    size_t operator()(const IndexKey& key) const noexcept { return key.hash; }
  };

  static std::string_view View(const Bytes& key) {
    return {reinterpret_cast<const char*>(key.data()), key.size()};
  }

  void Reindex() {
    index_.clear();
    index_.reserve(entries_.size());
    for (auto entry = entries_.begin(); entry != entries_.end(); ++entry) {
      index_.emplace(IndexKey{View(entry->first), crypto::ProcessKeyedHash(entry->first)}, entry);
    }
  }

  Ordered entries_;
  std::unordered_map<IndexKey, Ordered::iterator, StoredHash> index_;
};

// An overlay's writes: key → new value or nullopt (a deletion), in a hash table alone. Execution
// writes and looks up keys one at a time, thousands per block, and needs them in key order only
// at the end (the canonical write set) or for a rare prefix scan, so the order is made when asked
// for rather than kept. Same keyed hash as IndexedMap, each key hashed once.
class HashedWrites {
 public:
  using Ordered = std::map<Bytes, std::optional<Bytes>>;

  const std::optional<Bytes>* Find(const HashedKey& key) const {
    auto found = writes_.find(key);
    return found == writes_.end() ? nullptr : &found->second;
  }

  void Set(Bytes key, std::optional<Bytes> value) {
    uint64_t hash = crypto::ProcessKeyedHash(key);
    auto found = writes_.find(HashedKey(key, hash));
    if (found != writes_.end()) {
      found->second = std::move(value);
      return;
    }
    writes_.emplace(StoredKey{std::move(key), hash}, std::move(value));
  }

  // Moves every write of `other` into this one (a later write replaces an earlier one under
  // the same key), reusing its nodes; `other` ends empty.
  void Absorb(HashedWrites&& other) {
    while (!other.writes_.empty()) {
      auto node = other.writes_.extract(other.writes_.begin());
      auto result = writes_.insert(std::move(node));
      if (!result.inserted) result.position->second = std::move(result.node.mapped());
    }
  }

  // Calls `visit(key, value)` for each write whose key starts with `prefix`, in no particular
  // order (a caller that wants key order merges them into an ordered map, as Overlay does).
  template <typename Visit>
  void ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const {
    for (const auto& [key, value] : writes_) {
      if (key.bytes.size() >= prefix.size() &&
          std::equal(prefix.begin(), prefix.end(), key.bytes.begin())) {
        visit(key.bytes, value);
      }
    }
  }

  Ordered ToOrdered() const {
    Ordered ordered;
    for (const auto& [key, value] : writes_) ordered.emplace(key.bytes, value);
    return ordered;
  }

  Ordered TakeOrdered() && {
    Ordered ordered;
    while (!writes_.empty()) {
      auto node = writes_.extract(writes_.begin());
      ordered.emplace(std::move(node.key().bytes), std::move(node.mapped()));
    }
    return ordered;
  }

  size_t size() const { return writes_.size(); }
  bool empty() const { return writes_.empty(); }

 private:
  struct StoredKey {
    Bytes bytes;
    uint64_t hash;
  };
  // Transparent, so a lookup by HashedKey copies nothing and hashes nothing again.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const StoredKey& key) const noexcept { return key.hash; }
    size_t operator()(const HashedKey& key) const noexcept { return key.hash; }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(const StoredKey& left, const StoredKey& right) const {
      return left.hash == right.hash && left.bytes == right.bytes;
    }
    bool operator()(const HashedKey& left, const StoredKey& right) const {
      return left.hash == right.hash && left.bytes == right.bytes;
    }
    bool operator()(const StoredKey& left, const HashedKey& right) const {
      return left.hash == right.hash && left.bytes == right.bytes;
    }
  };

  std::unordered_map<StoredKey, std::optional<Bytes>, KeyHash, KeyEqual> writes_;
};

}  // namespace vigil::ledger
