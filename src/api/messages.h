// The peer's wire protocol: frames between validators, and the client API that operators'
// commands, publishers and gateways use. Both run over the mutual-TLS transport
// (docs/transport.md) on the peer's one listening port; the peer tells them apart by the
// role in the client's certificate (docs/peer.md#protocol).
//
// Every message is one frame; its type says which message it is, its payload is the
// message's canonical encoding (docs/encoding.md), decoded strictly with size limits. Client
// requests carry a request id the response echoes, so a client may pipeline requests.
//
// A `TransactionProof` is what a light client needs to believe that a transaction was
// committed with a given result, trusting nobody who relayed it: the transaction, its result,
// the Merkle inclusion proofs of both, the block header, and the commit certificate of that
// header (`VerifyTransactionProof`).
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "codec/codec.h"
#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/compliance.h"
#include "ledger/state.h"
#include "ledger/transaction.h"
#include "merkle/merkle.h"
#include "transport/frame.h"

namespace vigil::api {

using crypto::Sha256Digest;

// DO NOT CHANGE the numeric values: they travel on the wire.
enum FrameKind : transport::FrameType {
  // Between validators (role peer only).
  kFrameConsensus = 16,         // consensus::EncodeMessage
  kFrameTransactions = 17,      // TransactionBatch: transactions gossiped to the other peers
  kFramePeerStatus = 18,        // PeerStatus: the sender's last committed height
  kFrameSyncRequest = 19,       // SyncRequest: committed blocks from a height
  kFrameSyncResponse = 20,      // SyncResponse: consensus::Commit of each block
  // Client API (roles admin, publisher, gateway, peer).
  kFrameSubmitRequest = 32,       // SubmitRequest
  kFrameSubmitResponse = 33,      // SubmitResponse
  kFrameBlockRequest = 34,        // BlockRequest
  kFrameBlockResponse = 35,       // BlockResponse
  kFrameTransactionRequest = 36,  // TransactionRequest
  kFrameTransactionResponse = 37, // TransactionResponse
  kFrameSubscribeRequest = 38,    // SubscribeRequest
  kFrameBlockEvent = 39,          // CommittedBlock, streamed to a subscriber
  kFrameStatusRequest = 40,       // StatusRequest
  kFrameStatusResponse = 41,      // StatusResponse
  kFrameErrorResponse = 42,       // ErrorResponse: a request the peer could not serve
  kFrameGroupRequest = 43,        // GroupRequest
  kFrameGroupResponse = 44,       // GroupResponse
  kFrameComplianceRequest = 45,   // ComplianceRequest
  kFrameComplianceResponse = 46,  // ComplianceResponse
};
bool IsPeerFrame(transport::FrameType type);
bool IsClientRequestFrame(transport::FrameType type);

// --- Between validators ---

struct TransactionBatch {
  std::vector<Bytes> transactions;
  friend bool operator==(const TransactionBatch&, const TransactionBatch&) = default;
};

struct PeerStatus {
  uint64_t height = 0;  // last committed
  friend bool operator==(const PeerStatus&, const PeerStatus&) = default;
};

struct SyncRequest {
  uint64_t from_height = 0;
  uint32_t count = 0;  // at most limits::kPeerSyncBlocksPerResponse
  friend bool operator==(const SyncRequest&, const SyncRequest&) = default;
};

struct SyncResponse {
  std::vector<consensus::Commit> commits;  // consecutive heights from the request's
  friend bool operator==(const SyncResponse&, const SyncResponse&) = default;
};

// --- Client API ---

struct SubmitRequest {
  uint64_t request_id = 0;
  Bytes transaction;  // an encoded, signed envelope
  // true: answer once the transaction is committed (or refused); false: once admitted.
  bool wait_for_commit = true;
  friend bool operator==(const SubmitRequest&, const SubmitRequest&) = default;
};

// DO NOT CHANGE the numeric values.
enum class SubmitOutcome : uint8_t {
  kRefused = 1,    // not admitted (or evicted before inclusion): `result` says why
  kPending = 2,    // admitted to the mempool; not committed yet
  kCommitted = 3,  // committed at `height`, position `index`, with `result` (which may be a
                   // refusal the rules gave it: committed refusals change nothing)
};
std::string_view SubmitOutcomeName(SubmitOutcome outcome);

struct SubmitResponse {
  uint64_t request_id = 0;
  ledger::TransactionId transaction_id{};
  SubmitOutcome outcome = SubmitOutcome::kRefused;
  ledger::TransactionResult result;
  uint64_t height = 0;  // kCommitted only
  uint64_t index = 0;   // kCommitted only
  friend bool operator==(const SubmitResponse&, const SubmitResponse&) = default;
};

struct BlockRequest {
  uint64_t request_id = 0;
  uint64_t height = 0;  // 0: the latest committed block
  friend bool operator==(const BlockRequest&, const BlockRequest&) = default;
};

// A committed block with its results and the certificate that finalized it.
struct CommittedBlock {
  uint64_t height = 0;
  Bytes block;  // ledger::EncodeBlock
  consensus::CommitCertificate certificate;
  std::vector<ledger::TransactionResult> results;  // one per transaction, in block order
  friend bool operator==(const CommittedBlock&, const CommittedBlock&) = default;
};

struct BlockResponse {
  uint64_t request_id = 0;
  std::optional<CommittedBlock> block;  // absent: no block at that height (yet)
  friend bool operator==(const BlockResponse&, const BlockResponse&) = default;
};

struct TransactionRequest {
  uint64_t request_id = 0;
  ledger::TransactionId transaction_id{};
  friend bool operator==(const TransactionRequest&, const TransactionRequest&) = default;
};

struct TransactionProof {
  Bytes transaction;  // the encoded envelope
  ledger::TransactionResult result;
  uint64_t height = 0;
  merkle::InclusionProof transaction_proof;  // in header.transactions_root
  merkle::InclusionProof result_proof;       // in header.results_root
  ledger::BlockHeader header;
  consensus::CommitCertificate certificate;  // precommits for BlockHash(header)
  friend bool operator==(const TransactionProof&, const TransactionProof&) = default;
};

struct TransactionResponse {
  uint64_t request_id = 0;
  std::optional<TransactionProof> proof;  // absent: not committed (may still be pending)
  bool pending = false;                   // in this peer's mempool
  friend bool operator==(const TransactionResponse&, const TransactionResponse&) = default;
};

struct SubscribeRequest {
  uint64_t request_id = 0;
  uint64_t from_height = 1;  // stored blocks from here, then every new one as it commits
  friend bool operator==(const SubscribeRequest&, const SubscribeRequest&) = default;
};

struct StatusRequest {
  uint64_t request_id = 0;
  friend bool operator==(const StatusRequest&, const StatusRequest&) = default;
};

struct StatusResponse {
  uint64_t request_id = 0;
  std::string node_name;
  std::string chain_id;
  Sha256Digest genesis_hash{};
  uint64_t height = 0;  // last committed
  Sha256Digest block_hash{};
  Sha256Digest state_hash{};
  int64_t block_time_ms = 0;
  uint32_t rules_version = 0;
  uint32_t validators = 0;
  bool is_validator = false;
  uint32_t peers_connected = 0;
  uint64_t mempool_transactions = 0;
  uint64_t mempool_bytes = 0;
  uint32_t consensus_round = 0;
  uint64_t evidence_count = 0;
  friend bool operator==(const StatusResponse&, const StatusResponse&) = default;
};

// A device group as the ledger state has it after the last committed block: its enrolled,
// unrevoked devices with what each reported per app, and its activations (seed 002). State
// entries carry no proof (docs/ledger.md#state-hash); each activation comes with the proof of
// the transaction that recorded it, which a client verifies against the genesis validators.
struct GroupRequest {
  uint64_t request_id = 0;
  std::string group;
  friend bool operator==(const GroupRequest&, const GroupRequest&) = default;
};

struct GroupDeviceApp {
  std::string app;
  std::string installed_version;  // staged
  std::string active_version;     // running
  friend bool operator==(const GroupDeviceApp&, const GroupDeviceApp&) = default;
};

struct GroupDevice {
  crypto::PublicKey device_key{};
  std::vector<GroupDeviceApp> apps;  // by app, at most limits::kApiGroupAppsMax
  friend bool operator==(const GroupDevice&, const GroupDevice&) = default;
};

struct GroupActivation {
  std::string app;
  ledger::ActivationRecord record;
  std::optional<TransactionProof> proof;  // of the activate transaction that wrote `record`
  friend bool operator==(const GroupActivation&, const GroupActivation&) = default;
};

struct GroupResponse {
  uint64_t request_id = 0;
  uint64_t height = 0;  // the state after this block
  int64_t block_time_ms = 0;
  std::vector<GroupDevice> devices;  // by key, at most limits::kApiGroupDevicesMax
  bool devices_truncated = false;
  std::vector<GroupActivation> activations;  // by app, at most limits::kApiGroupAppsMax
  friend bool operator==(const GroupResponse&, const GroupResponse&) = default;
};

// Compliance (issue 6, docs/ledger.md#compliance): each enrolled, unrevoked device's verdict
// per app as the rules judge it at the last committed block (ledger::EvaluateCompliance). One
// page holds at most limits::kApiComplianceDevicesMax devices in key order; a client asks for
// the next page with `start_after` = the last key it got. State entries carry no proof
// (docs/ledger.md#state-hash): the answer names the block it holds at and the state hash
// after it, which the next block's header carries and its commit certificate signs.
struct ComplianceRequest {
  uint64_t request_id = 0;
  std::string group;  // "" for every group
  std::optional<crypto::PublicKey> start_after;
  friend bool operator==(const ComplianceRequest&, const ComplianceRequest&) = default;
};

struct ComplianceApp {
  std::string app;
  ledger::ComplianceRecord record;
  friend bool operator==(const ComplianceApp&, const ComplianceApp&) = default;
};

struct ComplianceDevice {
  crypto::PublicKey device_key{};
  std::string group;
  std::vector<ComplianceApp> apps;  // by app, at most limits::kApiComplianceAppsMax
  bool apps_truncated = false;
  friend bool operator==(const ComplianceDevice&, const ComplianceDevice&) = default;
};

struct ComplianceResponse {
  uint64_t request_id = 0;
  uint64_t height = 0;  // the verdicts hold after this block
  int64_t block_time_ms = 0;
  Sha256Digest block_hash{};
  Sha256Digest state_hash{};  // after block `height` (block height + 1's header carries it)
  std::vector<ComplianceDevice> devices;  // by key, at most limits::kApiComplianceDevicesMax
  bool devices_truncated = false;         // more devices after the last one: ask again
  friend bool operator==(const ComplianceResponse&, const ComplianceResponse&) = default;
};

struct ErrorResponse {
  uint64_t request_id = 0;
  std::string message;
  friend bool operator==(const ErrorResponse&, const ErrorResponse&) = default;
};

// The proof of the `index`-th transaction of a committed block (what a peer answers to a
// TransactionRequest, and what a gateway following the ledger hands its devices). `block` is
// the decoded `committed.block`.
Expected<TransactionProof> ProveTransaction(const ledger::Block& block,
                                            const CommittedBlock& committed, size_t index);

// --- Encoding: one pair per message; decoders refuse trailing bytes and over-limit fields. ---
// Proofs travel inside other messages too (the gateway's offers to its devices).
void EncodeTransactionProof(codec::Encoder& encoder, const TransactionProof& proof);
Expected<TransactionProof> DecodeTransactionProof(codec::Decoder& decoder);


Bytes Encode(const TransactionBatch& message);
Bytes Encode(const PeerStatus& message);
Bytes Encode(const SyncRequest& message);
Bytes Encode(const SyncResponse& message);
Bytes Encode(const SubmitRequest& message);
Bytes Encode(const SubmitResponse& message);
Bytes Encode(const BlockRequest& message);
Bytes Encode(const CommittedBlock& message);
Bytes Encode(const BlockResponse& message);
Bytes Encode(const TransactionRequest& message);
Bytes Encode(const TransactionResponse& message);
Bytes Encode(const SubscribeRequest& message);
Bytes Encode(const StatusRequest& message);
Bytes Encode(const StatusResponse& message);
Bytes Encode(const ErrorResponse& message);
Bytes Encode(const GroupRequest& message);
Bytes Encode(const GroupResponse& message);
Bytes Encode(const ComplianceRequest& message);
Bytes Encode(const ComplianceResponse& message);

Expected<TransactionBatch> DecodeTransactionBatch(ByteSpan bytes);
Expected<PeerStatus> DecodePeerStatus(ByteSpan bytes);
Expected<SyncRequest> DecodeSyncRequest(ByteSpan bytes);
Expected<SyncResponse> DecodeSyncResponse(ByteSpan bytes);
Expected<SubmitRequest> DecodeSubmitRequest(ByteSpan bytes);
Expected<SubmitResponse> DecodeSubmitResponse(ByteSpan bytes);
Expected<BlockRequest> DecodeBlockRequest(ByteSpan bytes);
Expected<CommittedBlock> DecodeCommittedBlock(ByteSpan bytes);
Expected<BlockResponse> DecodeBlockResponse(ByteSpan bytes);
Expected<TransactionRequest> DecodeTransactionRequest(ByteSpan bytes);
Expected<TransactionResponse> DecodeTransactionResponse(ByteSpan bytes);
Expected<SubscribeRequest> DecodeSubscribeRequest(ByteSpan bytes);
Expected<StatusRequest> DecodeStatusRequest(ByteSpan bytes);
Expected<StatusResponse> DecodeStatusResponse(ByteSpan bytes);
Expected<ErrorResponse> DecodeErrorResponse(ByteSpan bytes);
Expected<GroupRequest> DecodeGroupRequest(ByteSpan bytes);
Expected<GroupResponse> DecodeGroupResponse(ByteSpan bytes);
Expected<ComplianceRequest> DecodeComplianceRequest(ByteSpan bytes);
Expected<ComplianceResponse> DecodeComplianceResponse(ByteSpan bytes);

// The request id at the front of a client request or response frame (every one starts with
// its u64 request id), for matching answers to calls; nullopt for other frames or too few bytes.
std::optional<uint64_t> RequestIdOf(transport::FrameType type, ByteSpan payload);

// Decodes any frame of this protocol by its type (for the fuzzer and for logging): kRefused
// for a type that is not one of FrameKind.
Status DecodeFrame(transport::FrameType type, ByteSpan payload);

// --- Light client ---

// Verifies, trusting nobody who relayed `proof`: the header names `chain_id`, the certificate
// is 2f+1 precommits of `validators` for the header's hash at its height, the transaction is a
// leaf of the header's transactions root and its result a leaf of the results root. Each
// failure says which check did not hold.
Status VerifyTransactionProof(const consensus::ValidatorSet& validators, std::string_view chain_id,
                              const TransactionProof& proof);
// The header of `block` is committed: certificate check against `validators`, and the block's
// own transactions match its header's root. Returns the decoded block.
Expected<ledger::Block> VerifyCommittedBlock(const consensus::ValidatorSet& validators,
                                             std::string_view chain_id,
                                             const CommittedBlock& block);

}  // namespace vigil::api
