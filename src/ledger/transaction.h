// Ledger transactions: signed envelopes, their kind-specific bodies, and their results.
//
// Byte layouts: docs/ledger.md#transactions. An envelope names the chain, the kind, the body
// (the kind's canonical bytes), the signer, the signer's sequence number and the signatures
// over "vigil/transaction/v1" + the envelope without its signatures. The signer signs first;
// governance kinds (admin k-of-n) carry co-signatures of other admins after it, sorted by key
// without duplicates, so each set of signers has one encoding.
//
// `CheckTransactionStateless` is what a mempool runs before anything else, and what block
// execution runs on every included transaction: size, strict decoding of envelope and body,
// chain id, field charsets and limits, and every signature. It needs no state. The stateful
// checks (sequence, roles, threshold, rules of each kind) live in execute.h.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "codec/codec.h"
#include "common/bytes.h"
#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::ledger {

using crypto::PublicKey;
using crypto::Sha256Digest;
using crypto::Signature;

// SHA-256 of the whole encoded envelope (signatures included).
using TransactionId = crypto::Sha256Digest;

// DO NOT CHANGE the numeric values: they are signed and stored.
enum class TransactionKind : uint16_t {
  // Governance: the signer and co-signers must be admins, at least `threshold` of them.
  kEnrollDevice = 1,
  kRevokeDevice = 2,
  kAddPublisher = 3,
  kRemovePublisher = 4,
  kActivateRelease = 5,  // coordinated activation of a release for a device group (seed 002)
  kActivateRules = 6,    // switch every replica to another contract-rules version at a height
  // 7..9 are reserved for later governance kinds: change validators (7).
  kPublishRelease = 10,  // signer: a publisher
  kDeviceReport = 20,    // signer: an enrolled device (relayed by its gateway)
  kPeerReport = 30,      // signer: a validator
};
std::string_view TransactionKindName(TransactionKind kind);
bool IsGovernanceKind(TransactionKind kind);

// DO NOT CHANGE the numeric values: they are signed and stored.
enum class DeviceReportKind : uint8_t {
  kInstalled = 1,          // the release is staged in a slot, verified, ready to activate
  kActivated = 2,          // the device now runs the release
  kRolledBack = 3,         // activation failed its health check; the previous release runs
  kIntegritySnapshot = 4,  // periodic: Merkle root of what is on disk, nothing differs
  kTamperDetected = 5,     // what is on disk differs from the release's manifest
  kRepaired = 6,           // pristine files restored; the snapshot root is the repaired one
  kAppRestarted = 7,       // the supervisor restarted the app after a crash
};
std::string_view DeviceReportKindName(DeviceReportKind kind);

// What a device of the group does when the activation is effective and it lacks the version
// (seed 002). DO NOT CHANGE the numeric values: signed and stored.
enum class MissingVersionPolicy : uint8_t {
  kHalt = 1,  // stop the app until the version is staged, then activate it
  kKeep = 2,  // keep the previous version running and report being behind
};
std::string_view MissingVersionPolicyName(MissingVersionPolicy policy);

// --- Bodies (docs/ledger.md#bodies) ---

struct EnrollDevice {
  PublicKey device_key{};
  std::string group;                // lower-case name: [a-z0-9][a-z0-9._-]*
  std::vector<std::string> labels;  // a set: sorted, no duplicates, [A-Za-z0-9._:/=-]+
  friend bool operator==(const EnrollDevice&, const EnrollDevice&) = default;
};

struct RevokeDevice {
  PublicKey device_key{};
  std::string reason;
  friend bool operator==(const RevokeDevice&, const RevokeDevice&) = default;
};

struct AddPublisher {
  PublicKey publisher_key{};
  std::string name;  // [A-Za-z0-9][A-Za-z0-9._-]*
  friend bool operator==(const AddPublisher&, const AddPublisher&) = default;
};

struct RemovePublisher {
  PublicKey publisher_key{};
  std::string reason;
  friend bool operator==(const RemovePublisher&, const RemovePublisher&) = default;
};

struct PublishRelease {
  std::string app;      // lower-case name
  std::string version;  // SemVer 2.0.0
  Sha256Digest bundle_digest{};
  uint64_t bundle_size_bytes = 0;
  Sha256Digest manifest_root{};
  std::string notes;
  friend bool operator==(const PublishRelease&, const PublishRelease&) = default;
};

// One shape for every report kind; which fields are required depends on the kind
// (docs/ledger.md#device-reports). Unused numbers are zero, unused strings empty.
struct DeviceReport {
  DeviceReportKind report_kind = DeviceReportKind::kInstalled;
  std::string app;
  std::string version;
  int64_t observed_time_ms = 0;  // the device's clock, for latency tables; not trusted
  std::optional<Sha256Digest> snapshot_root;
  uint32_t files_changed = 0;  // tamper detected / repaired
  uint64_t duration_ms = 0;    // install or repair duration
  std::string detail;
  friend bool operator==(const DeviceReport&, const DeviceReport&) = default;
};

struct PeerReport {
  std::vector<uint32_t> supported_rules_versions;  // a set: sorted, no duplicates, no zero
  friend bool operator==(const PeerReport&, const PeerReport&) = default;
};

// DO NOT CHANGE the numeric values: signed and stored.
enum class ActivationTiming : uint8_t {
  kAtHeight = 1,  // effective from block `at_height`
  kAtTime = 2,    // effective from the first block whose time is >= `at_time_ms`
  kNext = 3,      // effective from the block after the one that records it
};
enum class InstalledThresholdKind : uint8_t {
  kDevices = 1,  // at least `installed_threshold` devices of the group
  kPercent = 2,  // at least `installed_threshold` percent (rounded up) of the group
};

// Coordinated activation (seed 002): from the effective block on, every device of `group`
// runs `app` `version`. docs/ledger.md#activate-release.
struct ActivateRelease {
  std::string group;    // lower-case name
  std::string app;      // lower-case name
  std::string version;  // SemVer; a published release (older ones too: a downgrade)
  ActivationTiming timing = ActivationTiming::kNext;
  uint64_t at_height = 0;  // kAtHeight only (else 0)
  int64_t at_time_ms = 0;  // kAtTime only (else 0)
  InstalledThresholdKind threshold_kind = InstalledThresholdKind::kPercent;
  uint32_t installed_threshold = 100;  // devices, or percent 0..100
  MissingVersionPolicy on_missing = MissingVersionPolicy::kHalt;
  friend bool operator==(const ActivateRelease&, const ActivateRelease&) = default;
};

// From block `at_height` on, every replica executes under contract-rules `version`.
struct ActivateRules {
  uint32_t version = 0;
  uint64_t at_height = 0;
  friend bool operator==(const ActivateRules&, const ActivateRules&) = default;
};

using Body = std::variant<EnrollDevice, RevokeDevice, AddPublisher, RemovePublisher, PublishRelease,
                          DeviceReport, PeerReport, ActivateRelease, ActivateRules>;
TransactionKind BodyKind(const Body& body);
Bytes EncodeBody(const Body& body);
// Strict decoding plus every field rule (charsets, limits, sets sorted, versions parse).
Expected<Body> DecodeBody(TransactionKind kind, ByteSpan bytes);

// --- Envelope ---

struct SignatureEntry {
  PublicKey public_key{};
  Signature signature{};
  friend bool operator==(const SignatureEntry&, const SignatureEntry&) = default;
};

struct Envelope {
  std::string chain_id;
  TransactionKind kind = TransactionKind::kEnrollDevice;
  Bytes body;
  PublicKey signer{};
  uint64_t sequence = 0;  // the signer's previous sequence + 1; the first is 1
  std::vector<SignatureEntry> signatures;
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// "vigil/transaction/v1" + the envelope's encoding without the signatures vector.
Bytes TransactionSignBytes(const Envelope& envelope);
Bytes EncodeEnvelope(const Envelope& envelope);
// Structural checks only: limits, a known kind, 1..kLedgerSignaturesMax signatures, the
// first by the signer, the rest sorted by key, unique, none by the signer.
Expected<Envelope> DecodeEnvelope(ByteSpan bytes);
TransactionId ComputeTransactionId(ByteSpan encoded_envelope);

// Builds, signs and encodes a transaction (for the CLI, tools and tests). Co-signers are
// sorted as the encoding requires.
Bytes SignTransaction(std::string_view chain_id, const Body& body, uint64_t sequence,
                      const crypto::PrivateKey& signer,
                      std::span<const crypto::PrivateKey* const> co_signers = {});

// --- Results ---

// DO NOT CHANGE the numeric values: results are hashed into blocks and shown to clients.
enum class ResultCode : uint16_t {
  kOk = 0,
  kMalformed = 1,       // does not decode, or breaks a size limit or a field rule
  kWrongChain = 2,      // signed for another chain
  kBadSignature = 3,    // a signature does not verify
  kBadSequence = 4,     // replayed (sequence used) or skipped (gap) sequence
  kUnauthorized = 5,    // the signer or a co-signer lacks the role the kind needs
  kBelowThreshold = 6,  // governance signed by fewer admins than the threshold
  kAlreadyExists = 7,   // enroll twice, publisher twice, release (app, version) exists
  kNotFound = 8,        // revoke an unknown device, report on an unpublished release
  kNotNewer = 9,        // publish a version not newer than the app's latest
  kRevoked = 10,        // the device (or key) is revoked
  kLimitReached = 11,   // a state table is full (e.g. publishers)
  kUnsupported = 12,    // a rules version this ledger does not know
  kNotInFuture = 13,    // an activation's height or time is not after the recording block
  kInsufficient = 14,   // too few devices installed the release / validators support the rules
  kConflict = 15,       // another activation of the same group and app is pending
};
std::string_view ResultCodeName(ResultCode code);

struct TransactionResult {
  ResultCode code = ResultCode::kOk;
  std::string reason;  // human-readable; empty when ok; at most kLedgerReasonBytesMax
  bool ok() const { return code == ResultCode::kOk; }
  friend bool operator==(const TransactionResult&, const TransactionResult&) = default;
};
// Truncates the reason to its limit (at a UTF-8 boundary) so every result is encodable.
TransactionResult Refuse(ResultCode code, std::string reason);

void EncodeResult(codec::Encoder& encoder, const TransactionResult& result);
Expected<TransactionResult> DecodeResult(codec::Decoder& decoder);
// Standalone forms (exactly one result, no trailing bytes), for storage and client replies.
Bytes EncodeResult(const TransactionResult& result);
Expected<TransactionResult> DecodeResult(ByteSpan bytes);
// Leaf of the block's results tree: fixed[32] transaction id, u16 code, string reason. The
// id binds the result to its transaction, so one proof shows both.
Bytes EncodeResultLeaf(const TransactionId& id, const TransactionResult& result);

// --- Stateless check ---

using VerifyFunction =
    std::function<bool(const PublicKey& key, ByteSpan message, const Signature& signature)>;
// crypto::Verify, as a VerifyFunction.
const VerifyFunction& DefaultVerifyFunction();

struct CheckedTransaction {
  Bytes encoded;
  TransactionId id{};
  Envelope envelope;
  Body body;
};

std::expected<CheckedTransaction, TransactionResult> CheckTransactionStateless(
    ByteSpan encoded, std::string_view chain_id,
    const VerifyFunction& verify = DefaultVerifyFunction());

// Field rules shared with genesis (each error names the field and the rule).
Status ValidateAppName(std::string_view field, std::string_view name);  // also device groups
Status ValidateDisplayName(std::string_view field, std::string_view name);

}  // namespace vigil::ledger
