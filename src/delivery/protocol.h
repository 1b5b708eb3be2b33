// The delivery protocol: what a gateway and its devices say to each other over their one
// persistent mutual-TLS session (docs/delivery.md).
//
//   device                                gateway
//     | -- Hello (apps, running/staged) --> |   admitted only if the certificate's key is an
//     | <-- Welcome (chain, height, seq,  |   enrolled, unrevoked device on the ledger; the
//     |      enrollment + ledger proof) --- |   proven enrollment names the device's group
//     | <-- Offer (release + ledger proof)  |   a newer release of an app the device runs
//     | -- ChunkRequest (digest, range) --> |
//     | <-- Chunk (bytes) ----------------- |   served from the gateway's verified cache
//     | -- Report (signed transaction) ---> |   relayed to the peers
//     | <-- ReportResult (committed/refused)|   once the ledger has decided
//     | <-- Activation (activate + proof) - |   an accepted ActivateRelease of the device's group
//     | <-- LedgerHeader (header + commit)  |   while an activation of its group is pending
//     | -- ReleaseRequest (app, version) -> |   a release it needs again (its pristine copy
//     | <-- Offer (release + ledger proof)  |   of a file is damaged): offered like any other
//
// Nothing the gateway sends is trusted by the device for what it claims: an offer carries the
// publish transaction with its inclusion proof and commit certificate, which the device checks
// against the validators of its own genesis (api::VerifyTransactionProof), and every byte of a
// bundle is checked against the digest the ledger recorded. The gateway is a relay and a
// cache, not an authority.
//
// Every message is one transport frame (types 64–79); its payload is the message's canonical
// encoding (docs/encoding.md), decoded strictly with size limits.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/messages.h"
#include "common/bytes.h"
#include "common/error.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "transport/frame.h"

namespace vigil::delivery {

using crypto::PublicKey;
using crypto::Sha256Digest;

// DO NOT CHANGE the numeric values: they travel on the wire.
enum DeliveryFrame : transport::FrameType {
  kFrameHello = 64,         // device → gateway: Hello
  kFrameWelcome = 65,       // gateway → device: Welcome
  kFrameOffer = 66,         // gateway → device: Offer
  kFrameChunkRequest = 67,  // device → gateway: ChunkRequest
  kFrameChunk = 68,         // gateway → device: Chunk
  kFrameReport = 69,        // device → gateway: Report
  kFrameReportResult = 70,  // gateway → device: ReportResult
  kFrameActivation = 71,    // gateway → device: Activation (seed 002)
  kFrameLedgerHeader = 72,  // gateway → device: LedgerHeader (seed 002)
  kFrameReleaseRequest = 73,  // device → gateway: ReleaseRequest
};
bool IsDeliveryFrame(transport::FrameType type);

// What a device runs of one app. Empty versions: none.
struct AppStatus {
  std::string app;
  std::string running_version;
  std::string staged_version;
  friend bool operator==(const AppStatus&, const AppStatus&) = default;
};

struct Hello {
  std::vector<AppStatus> apps;  // sorted by app, unique: the apps this device runs
  friend bool operator==(const Hello&, const Hello&) = default;
};

struct Welcome {
  std::string chain_id;
  uint64_t ledger_height = 0;  // the gateway's verified height
  uint64_t next_sequence = 1;  // what the device's next report must carry
  // The accepted EnrollDevice transaction of this device, with its ledger proof: the device's
  // group, which decides the activations it follows, is what this proves, never the gateway's
  // word (a key is enrolled once and its group never changes: VerifyEnrollment).
  api::TransactionProof enrollment;
  friend bool operator==(const Welcome&, const Welcome&) = default;
};

// A release the device should install: the publish transaction with everything needed to
// believe it without trusting the gateway.
struct Offer {
  api::TransactionProof publish;  // a committed, accepted PublishRelease
  friend bool operator==(const Offer&, const Offer&) = default;
};

struct ChunkRequest {
  uint64_t request_id = 0;
  Sha256Digest bundle_digest{};
  uint64_t offset = 0;
  uint32_t length = 0;  // at most limits::kDeliveryChunkBytesMax
  friend bool operator==(const ChunkRequest&, const ChunkRequest&) = default;
};

struct Chunk {
  uint64_t request_id = 0;
  uint64_t offset = 0;
  Bytes bytes;        // empty with `error` set when the gateway cannot serve it
  std::string error;  // e.g. "bundle not in the gateway's cache yet"
  friend bool operator==(const Chunk&, const Chunk&) = default;
};

// A decoded Chunk whose bytes still point into the frame it came in (valid as long as that
// frame): a device writes them to its download file without a copy in between.
struct ChunkView {
  uint64_t request_id = 0;
  uint64_t offset = 0;
  ByteSpan bytes;
  std::string error;
};

struct Report {
  uint64_t request_id = 0;
  Bytes transaction;  // a DeviceReport envelope signed by the device's key
  friend bool operator==(const Report&, const Report&) = default;
};

// DO NOT CHANGE the numeric values.
enum class ReportOutcome : uint8_t { kCommitted = 1, kRefused = 2 };

struct ReportResult {
  uint64_t request_id = 0;
  ReportOutcome outcome = ReportOutcome::kRefused;
  uint64_t height = 0;               // kCommitted: the block that holds it
  ledger::TransactionResult result;  // the ledger's result, or why it was refused before
  uint64_t next_sequence = 0;        // the device's next sequence as the gateway sees it
  friend bool operator==(const ReportResult&, const ReportResult&) = default;
};

// A coordinated activation (seed 002): the ActivateRelease transaction of the device's group,
// with the proof that the ledger committed and accepted it.
struct Activation {
  api::TransactionProof activate;
  friend bool operator==(const Activation&, const Activation&) = default;
};

// A committed block header: what tells a device, without trusting the gateway, that the
// ledger has reached a height (and a block time). Sent while an activation is pending.
struct LedgerHeader {
  ledger::BlockHeader header;
  consensus::CommitCertificate certificate;  // precommits for BlockHash(header)
  friend bool operator==(const LedgerHeader&, const LedgerHeader&) = default;
};

// The device asks for a release it runs or has staged, again: the integrity monitor found a
// file of it changed and its pristine copy damaged too, so the bundle is the only clean
// source left. The gateway answers with an Offer (with its ledger proof, checked like any
// other) when the ledger has that release, and with nothing otherwise.
struct ReleaseRequest {
  std::string app;
  std::string version;
  friend bool operator==(const ReleaseRequest&, const ReleaseRequest&) = default;
};

// --- Encoding: decoders refuse trailing bytes and over-limit fields. ---
Bytes Encode(const Hello& message);
Bytes Encode(const Welcome& message);
Bytes Encode(const Offer& message);
Bytes Encode(const ChunkRequest& message);
Bytes Encode(const Chunk& message);
// The Chunk frame for `length` bytes at `offset` that `fill(span)` writes straight into the
// frame (the gateway reads them from its cache file there); a failed fill becomes a Chunk with
// that error and no bytes.
Bytes EncodeChunk(uint64_t request_id, uint64_t offset, size_t length,
                  const std::function<Status(std::span<uint8_t>)>& fill);
Bytes Encode(const Report& message);
Bytes Encode(const ReportResult& message);
Bytes Encode(const Activation& message);
Bytes Encode(const LedgerHeader& message);
Bytes Encode(const ReleaseRequest& message);

Expected<Hello> DecodeHello(ByteSpan bytes);
Expected<Welcome> DecodeWelcome(ByteSpan bytes);
Expected<Offer> DecodeOffer(ByteSpan bytes);
Expected<ChunkRequest> DecodeChunkRequest(ByteSpan bytes);
Expected<Chunk> DecodeChunk(ByteSpan bytes);
Expected<ChunkView> DecodeChunkView(ByteSpan bytes);
Expected<Report> DecodeReport(ByteSpan bytes);
Expected<ReportResult> DecodeReportResult(ByteSpan bytes);
Expected<Activation> DecodeActivation(ByteSpan bytes);
Expected<LedgerHeader> DecodeLedgerHeader(ByteSpan bytes);
Expected<ReleaseRequest> DecodeReleaseRequest(ByteSpan bytes);

// What an offer says, once checked.
struct VerifiedRelease {
  std::string app;
  std::string version;
  Sha256Digest bundle_digest{};
  uint64_t bundle_size_bytes = 0;
  Sha256Digest manifest_root{};
  PublicKey publisher{};
  uint64_t height = 0;  // the block that committed the publish
  friend bool operator==(const VerifiedRelease&, const VerifiedRelease&) = default;
};

// The device's check of an offer, trusting nobody who relayed it: the proof verifies against
// `validators` (certificate, inclusion of the transaction and its result), the transaction
// passes the stateless check for `chain_id` (decoding, the publisher's signature), it is a
// PublishRelease, and the ledger accepted it (result ok: the signer was a publisher and the
// version was new). Each failure says which check did not hold.
Expected<VerifiedRelease> VerifyOffer(const consensus::ValidatorSet& validators,
                                      std::string_view chain_id, const Offer& offer);

// What an activation says, once checked. Activations of one (group, app) are ordered by
// (recorded_height, index): the later one replaces the earlier (last in block order wins).
struct VerifiedActivation {
  std::string group;
  std::string app;
  std::string version;
  uint64_t recorded_height = 0;   // the block that committed the activation
  uint64_t index = 0;             // its position in that block
  uint64_t effective_height = 0;  // first block at which it is effective (0 with a time)
  int64_t effective_time_ms = 0;  // or the first block at/after this time (0: unused)
  ledger::MissingVersionPolicy on_missing = ledger::MissingVersionPolicy::kHalt;
  friend bool operator==(const VerifiedActivation&, const VerifiedActivation&) = default;
  bool IsEffectiveAt(uint64_t height, int64_t time_ms) const {
    return effective_time_ms != 0 ? time_ms >= effective_time_ms : height >= effective_height;
  }
  bool IsLaterThan(const VerifiedActivation& other) const {
    return recorded_height != other.recorded_height ? recorded_height > other.recorded_height
                                                    : index > other.index;
  }
};

// The device's check of an activation, as VerifyOffer: the proof verifies against
// `validators`, the transaction passes the stateless check for `chain_id` (the admins'
// signatures), it is an ActivateRelease and the ledger accepted it (thresholds, conflicts and
// "published" all held). The effective height is computed as the ledger did (next: the block
// after the one that recorded it).
Expected<VerifiedActivation> VerifyActivation(const consensus::ValidatorSet& validators,
                                              std::string_view chain_id,
                                              const Activation& activation);

// The device's check of its Welcome's enrollment, as VerifyOffer: the proof verifies against
// `validators`, the transaction passes the stateless check for `chain_id` (the admins'
// signatures), it is an EnrollDevice of `device` and the ledger accepted it. Returns the group
// it enrolled the device in.
Expected<std::string> VerifyEnrollment(const consensus::ValidatorSet& validators,
                                       std::string_view chain_id, const PublicKey& device,
                                       const api::TransactionProof& enrollment);

// A header the ledger committed: it names `chain_id` and 2f+1 of `validators` precommitted it.
Status VerifyLedgerHeader(const consensus::ValidatorSet& validators, std::string_view chain_id,
                          const LedgerHeader& header);

}  // namespace vigil::delivery
