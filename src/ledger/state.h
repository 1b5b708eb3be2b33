// The ledger state: an ordered key-value map with typed tables, per-transaction overlays, and
// the state hash.
//
// Every key starts with a one-byte table id (docs/ledger.md#state); the rest of the key and
// the value are canonical encodings. Because the map is ordered and every byte is canonical,
// two peers that executed the same blocks hold byte-identical maps.
//
// Writes never touch a `State` during execution: they go to an `Overlay` over it (one per
// block, and one per transaction over the block's). A refused transaction's overlay is
// dropped, so nothing is half-applied; an accepted one is merged into the block's. The block's
// write set then moves the state forward in one step (`State::Apply`), which is also what
// storage persists in the same transaction as the block.
//
// State hash (docs/ledger.md#state-hash): state_hash(h) = SHA-256("vigil/state/v1" ‖
// state_hash(h-1) ‖ SHA-256(canonical write set of block h)), with the genesis write set
// starting from 32 zero bytes. It costs O(writes) per block rather than O(state); the price is
// that it proves nothing about a single entry (a light client cannot prove "device X is
// enrolled" from it). `State::ComputeDigest` hashes the whole map for audits.
//
// Thread-safety: none; a State is a value owned by one thread. Copy it to share.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/assert.h"
#include "codec/codec.h"
#include "common/bytes.h"
#include "crypto/crypto.h"
#include "ledger/indexed_map.h"
#include "ledger/transaction.h"

namespace vigil::ledger {

// DO NOT CHANGE the numeric values: they are the first byte of every stored key.
enum class Table : uint8_t {
  kConfig = 1,          // string name → value (chain id, admin threshold, rules, CA, counters)
  kAdmin = 2,           // admin key → name
  kValidator = 3,       // validator key → ValidatorRecord
  kSequence = 4,        // signer key → u64 last sequence
  kDevice = 5,          // device key → DeviceRecord
  kDeviceReport = 6,    // device key ‖ u8 report kind → ReportRecord (the latest of that kind)
  kDeviceApp = 7,       // device key ‖ string app → DeviceAppRecord
  kPublisher = 8,       // publisher key → PublisherRecord
  kRelease = 9,         // string app ‖ string version → ReleaseRecord
  kLatestRelease = 10,  // string app → string version (seed 001's "latest" record)
  kInstallation = 11,   // string app ‖ string version ‖ device key → u64 height (thresholds)
  kRulesSupport = 12,   // validator key → RulesSupportRecord
  kActivation = 13,     // string group ‖ string app → ActivationRecord
  kGroupDevice = 14,    // string group ‖ device key → u64 enrolled height (enrolled, unrevoked)
  kCompliance = 15,     // device key ‖ string app → ComplianceRecord (ledger/compliance.h)
};

// --- Key-value layer ---

class StateReader {
 public:
  virtual ~StateReader() = default;
  // The value under `key`, or null when absent (or deleted in an overlay). The pointer stays
  // valid until the next write to this reader or its parents.
  const Bytes* Find(const Bytes& key) const { return FindHashed(HashedKey(key)); }
  // Find, for a key already hashed: what layered readers implement and pass down.
  virtual const Bytes* FindHashed(const HashedKey& key) const = 0;
  // Calls `visit(key, value)` for every entry whose key starts with `prefix`, in key order
  // (an overlay merges its writes with its parent's entries). O(matches + log n) on a State.
  using Visit = std::function<void(const Bytes& key, const Bytes& value)>;
  virtual void ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const = 0;
};

// Key → new value, or nullopt for a deletion. Ordered by key: its encoding is canonical.
using WriteSet = std::map<Bytes, std::optional<Bytes>>;

// Takes its parent by pointer, and cannot be copied: `Overlay child(parent_overlay)` would
// otherwise pick the copy constructor and silently duplicate the parent's writes.
class Overlay final : public StateReader {
 public:
  explicit Overlay(const StateReader* parent) : parent_(NonNull(parent)) {}
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;
  const Bytes* FindHashed(const HashedKey& key) const override;
  void ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const override;
  void Put(Bytes key, Bytes value) { writes_.Set(std::move(key), std::move(value)); }
  void Erase(Bytes key) { writes_.Set(std::move(key), std::nullopt); }
  // A copy, in key order (the overlay keeps its writes unordered; see HashedWrites).
  WriteSet writes() const { return writes_.ToOrdered(); }
  // Moves this overlay's writes into `target` (normally its parent).
  void MergeInto(Overlay& target) &&;
  WriteSet TakeWrites() && { return std::move(writes_).TakeOrdered(); }

 private:
  static const StateReader& NonNull(const StateReader* parent) {
    VIGIL_ASSERT(parent != nullptr);
    return *parent;
  }
  const StateReader& parent_;
  HashedWrites writes_;
};

// Where the chain stands after the last applied block (height 0: genesis).
struct ChainTip {
  uint64_t height = 0;
  // Hash of the last block's header; at height 0 the genesis hash, which block 1 names as its
  // previous block.
  Sha256Digest block_hash{};
  Sha256Digest state_hash{};  // after the last block (the next header carries it)
  int64_t time_ms = 0;        // the last block's time; at height 0 the genesis time
  friend bool operator==(const ChainTip&, const ChainTip&) = default;
};

class State final : public StateReader {
 public:
  State() = default;
  // A state as storage kept it: the entries after the block `tip` names. Refuses entries
  // without a chain id (not a ledger state).
  static Expected<State> FromEntries(std::map<Bytes, Bytes> entries, const ChainTip& tip);
  const Bytes* FindHashed(const HashedKey& key) const override;
  void ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const override;

  const std::map<Bytes, Bytes>& entries() const { return entries_.ordered(); }
  const ChainTip& tip() const { return tip_; }
  // The chain id, from the config table (set by genesis).
  const std::string& chain_id() const { return chain_id_; }

  // Applies a block's (or genesis') writes and moves the tip. Asserts the tip's height
  // advances by exactly one (or is 0 for genesis on an empty state).
  void Apply(const WriteSet& writes, const ChainTip& tip);

  // Calls `visit(key without the table byte, value)` for each entry of `table` in key order.
  void ForEachInTable(Table table,
                      const std::function<void(ByteSpan key, const Bytes& value)>& visit) const;

  // SHA-256 over every entry (u32-length-prefixed key and value, in key order) and the tip:
  // O(state), for audits and tests that compare whole states.
  Sha256Digest ComputeDigest() const;

  friend bool operator==(const State& left, const State& right) {
    return left.tip_ == right.tip_ && left.chain_id_ == right.chain_id_ &&
           left.entries_.ordered() == right.entries_.ordered();
  }

 private:
  IndexedMap entries_;
  ChainTip tip_;
  std::string chain_id_;
};

// Canonical write-set encoding: vector<{bytes key, optional<bytes> value}> in key order.
Bytes EncodeWriteSet(const WriteSet& writes);
// SHA-256("vigil/state/v1" ‖ previous ‖ SHA-256(EncodeWriteSet(writes))).
Sha256Digest NextStateHash(const Sha256Digest& previous, const WriteSet& writes);

// --- Typed records (docs/ledger.md#state) ---

// DO NOT CHANGE the numeric values: stored.
enum class DeviceStatus : uint8_t { kEnrolled = 1, kRevoked = 2 };

struct DeviceRecord {
  std::string group;
  std::vector<std::string> labels;
  DeviceStatus status = DeviceStatus::kEnrolled;
  uint64_t enrolled_height = 0;
  uint64_t revoked_height = 0;  // 0 while enrolled
  // The latest integrity snapshot root reported (snapshot, tamper or repair), and whether the
  // device's files are currently known to differ from their release (tamper not yet repaired).
  std::optional<Sha256Digest> snapshot_root;
  uint64_t snapshot_height = 0;
  bool tampered = false;
  friend bool operator==(const DeviceRecord&, const DeviceRecord&) = default;
};

struct ReportRecord {
  uint64_t height = 0;
  int64_t block_time_ms = 0;
  DeviceReport report;
  friend bool operator==(const ReportRecord&, const ReportRecord&) = default;
};

// What the ledger knows about one app on one device.
struct DeviceAppRecord {
  std::string installed_version;  // the latest reported "installed"
  std::string active_version;     // the latest reported "activated" (a rollback leaves it)
  uint64_t restarts = 0;          // "app restarted" reports so far
  friend bool operator==(const DeviceAppRecord&, const DeviceAppRecord&) = default;
};

struct PublisherRecord {
  std::string name;
  uint64_t added_height = 0;
  friend bool operator==(const PublisherRecord&, const PublisherRecord&) = default;
};

struct ReleaseRecord {
  Sha256Digest bundle_digest{};
  uint64_t bundle_size_bytes = 0;
  Sha256Digest manifest_root{};
  PublicKey publisher{};
  uint64_t height = 0;
  int64_t time_ms = 0;
  std::string notes;
  friend bool operator==(const ReleaseRecord&, const ReleaseRecord&) = default;
};

struct ValidatorRecord {
  std::string name;
  uint64_t voting_power = 0;
  std::string address;  // host:port
  friend bool operator==(const ValidatorRecord&, const ValidatorRecord&) = default;
};

// Rules versions a validator reported it has installed (seed 002: activation of a rules
// version is refused until enough validators support it).
struct RulesSupportRecord {
  std::vector<uint32_t> versions;
  uint64_t height = 0;
  friend bool operator==(const RulesSupportRecord&, const RulesSupportRecord&) = default;
};

// The effective rules version, and a scheduled change (seed 002 claim 8: version N from block
// H), set by an accepted activate-rules transaction (execute.cc: RulesAfterActivation).
struct RulesRecord {
  uint32_t version = 1;
  uint32_t next_version = 0;  // 0: none scheduled
  uint64_t next_height = 0;
  friend bool operator==(const RulesRecord&, const RulesRecord&) = default;
};

// A coordinated activation of (group, app) (seed 002), written by kActivateRelease in the same
// write set as the block that records it. Before the effective block, `previous_version` is
// the effective one ("" when the group never had an activation of the app).
struct ActivationRecord {
  std::string version;
  uint64_t effective_height = 0;  // first block at which the version is effective
  int64_t effective_time_ms = 0;  // or the first block at/after this time (0: unused)
  uint32_t installed_threshold = 0;
  MissingVersionPolicy on_missing = MissingVersionPolicy::kHalt;
  std::string previous_version;
  uint64_t recorded_height = 0;
  friend bool operator==(const ActivationRecord&, const ActivationRecord&) = default;
  // Whether `version` is effective in a block of this height and time.
  bool IsEffectiveAt(uint64_t height, int64_t time_ms) const {
    return effective_time_ms != 0 ? time_ms >= effective_time_ms : height >= effective_height;
  }
  const std::string& EffectiveVersionAt(uint64_t height, int64_t time_ms) const {
    return IsEffectiveAt(height, time_ms) ? version : previous_version;
  }
};

// The record's canonical encoding (also what the client API sends).
void EncodeActivationRecord(codec::Encoder& encoder, const ActivationRecord& record);
Expected<ActivationRecord> DecodeActivationRecord(codec::Decoder& decoder);

// --- Typed accessors. Readers take any StateReader (a State or an Overlay); writers an
// Overlay. A stored value that does not decode is a broken invariant and asserts. ---

std::optional<DeviceRecord> GetDevice(const StateReader& state, const PublicKey& device);
void PutDevice(Overlay& state, const PublicKey& device, const DeviceRecord& record);

std::optional<ReportRecord> GetLastReport(const StateReader& state, const PublicKey& device,
                                          DeviceReportKind kind);
void PutLastReport(Overlay& state, const PublicKey& device, const ReportRecord& record);

std::optional<DeviceAppRecord> GetDeviceApp(const StateReader& state, const PublicKey& device,
                                            std::string_view app);
void PutDeviceApp(Overlay& state, const PublicKey& device, std::string_view app,
                  const DeviceAppRecord& record);

std::optional<PublisherRecord> GetPublisher(const StateReader& state, const PublicKey& publisher);
void PutPublisher(Overlay& state, const PublicKey& publisher, const PublisherRecord& record);
void ErasePublisher(Overlay& state, const PublicKey& publisher);

std::optional<ReleaseRecord> GetRelease(const StateReader& state, std::string_view app,
                                        std::string_view version);
void PutRelease(Overlay& state, std::string_view app, std::string_view version,
                const ReleaseRecord& record);
std::optional<std::string> GetLatestVersion(const StateReader& state, std::string_view app);
void PutLatestVersion(Overlay& state, std::string_view app, std::string_view version);

std::optional<uint64_t> GetInstallation(const StateReader& state, std::string_view app,
                                        std::string_view version, const PublicKey& device);
void PutInstallation(Overlay& state, std::string_view app, std::string_view version,
                     const PublicKey& device, uint64_t height);

// The last sequence the signer used; 0 if it never signed an accepted transaction.
uint64_t GetSequence(const StateReader& state, const PublicKey& signer);
void PutSequence(Overlay& state, const PublicKey& signer, uint64_t sequence);

std::optional<std::string> GetAdminName(const StateReader& state, const PublicKey& admin);
void PutAdmin(Overlay& state, const PublicKey& admin, std::string_view name);

std::optional<ValidatorRecord> GetValidator(const StateReader& state, const PublicKey& validator);
void PutValidator(Overlay& state, const PublicKey& validator, const ValidatorRecord& record);

std::optional<RulesSupportRecord> GetRulesSupport(const StateReader& state,
                                                  const PublicKey& validator);
void PutRulesSupport(Overlay& state, const PublicKey& validator, const RulesSupportRecord& record);

std::optional<ActivationRecord> GetActivation(const StateReader& state, std::string_view group,
                                              std::string_view app);
void PutActivation(Overlay& state, std::string_view group, std::string_view app,
                   const ActivationRecord& record);

// The group index: enrolled, unrevoked devices of a group (enroll adds, revoke removes), so
// activation thresholds cost O(group size), not O(fleet).
void PutGroupDevice(Overlay& state, std::string_view group, const PublicKey& device,
                    uint64_t enrolled_height);
void EraseGroupDevice(Overlay& state, std::string_view group, const PublicKey& device);
std::vector<PublicKey> ListGroupDevices(const StateReader& state, std::string_view group);

struct ActivationEntry {
  std::string app;
  ActivationRecord record;
};
// Every activation of `group`, by app.
std::vector<ActivationEntry> ListActivations(const StateReader& state, std::string_view group);
// Every app the ledger knows of on `device` (device app table), by app.
std::vector<std::pair<std::string, DeviceAppRecord>> ListDeviceApps(const StateReader& state,
                                                                    const PublicKey& device);

// Config entries.
std::optional<std::string> GetChainId(const StateReader& state);
void PutChainId(Overlay& state, std::string_view chain_id);
uint32_t GetAdminThreshold(const StateReader& state);  // asserts genesis set it
void PutAdminThreshold(Overlay& state, uint32_t threshold);
RulesRecord GetRules(const StateReader& state);  // asserts genesis set it
void PutRules(Overlay& state, const RulesRecord& record);
std::optional<std::string> GetCaCertificatePem(const StateReader& state);
void PutCaCertificatePem(Overlay& state, std::string_view pem);
uint64_t GetPublisherCount(const StateReader& state);
void PutPublisherCount(Overlay& state, uint64_t count);

// Listings of a committed State, in key order (for the API, the gateway and audits).
std::vector<std::pair<PublicKey, std::string>> ListAdmins(const State& state);
std::vector<std::pair<PublicKey, ValidatorRecord>> ListValidators(const StateReader& state);
std::vector<std::pair<PublicKey, PublisherRecord>> ListPublishers(const State& state);
std::vector<std::pair<PublicKey, DeviceRecord>> ListDevices(const State& state);

struct ReleaseEntry {
  std::string app;
  std::string version;
  ReleaseRecord record;
};
// Every release, or only `app`'s, ordered by app then version string (not by precedence).
std::vector<ReleaseEntry> ListReleases(const State& state, std::optional<std::string_view> app);

}  // namespace vigil::ledger
