#include "api/messages.h"

#include <algorithm>

#include "codec/codec.h"
#include "common/limits.h"

namespace vigil::api {
namespace {

using codec::Decoder;
using codec::Encoder;

// A response never carries more results or transactions than a block may hold.
constexpr size_t kResultsMax = limits::kLedgerBlockTransactionsMax;

template <typename Message, typename Write>
Bytes EncodeWith(const Message& message, Write write) {
  Encoder encoder;
  write(encoder, message);
  return std::move(encoder).Take();
}

void WriteResult(Encoder& encoder, const ledger::TransactionResult& result) {
  ledger::EncodeResult(encoder, result);
}

void WriteCommittedBlock(Encoder& encoder, const CommittedBlock& block) {
  encoder.WriteU64(block.height);
  encoder.WriteBytes(block.block);
  consensus::EncodeCommitCertificate(encoder, block.certificate);
  encoder.WriteVector(block.results, WriteResult);
}

Expected<CommittedBlock> ReadCommittedBlock(Decoder& decoder) {
  CommittedBlock block;
  VIGIL_ASSIGN_OR_RETURN(block.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(block.block, decoder.ReadBytes("block", limits::kLedgerBlockBytesMax));
  VIGIL_ASSIGN_OR_RETURN(block.certificate, consensus::DecodeCommitCertificate(decoder));
  VIGIL_ASSIGN_OR_RETURN(block.results,
                         decoder.ReadVector("results", kResultsMax, [](Decoder& inner) {
                           return ledger::DecodeResult(inner);
                         }));
  return block;
}

}  // namespace

void EncodeTransactionProof(codec::Encoder& encoder, const TransactionProof& proof) {
  encoder.WriteBytes(proof.transaction);
  ledger::EncodeResult(encoder, proof.result);
  encoder.WriteU64(proof.height);
  merkle::EncodeInclusionProof(encoder, proof.transaction_proof);
  merkle::EncodeInclusionProof(encoder, proof.result_proof);
  ledger::EncodeHeader(encoder, proof.header);
  consensus::EncodeCommitCertificate(encoder, proof.certificate);
}

Expected<TransactionProof> DecodeTransactionProof(codec::Decoder& decoder) {
  TransactionProof proof;
  VIGIL_ASSIGN_OR_RETURN(proof.transaction,
                         decoder.ReadBytes("transaction", limits::kLedgerTransactionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(proof.result, ledger::DecodeResult(decoder));
  VIGIL_ASSIGN_OR_RETURN(proof.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(proof.transaction_proof, merkle::DecodeInclusionProof(decoder));
  VIGIL_ASSIGN_OR_RETURN(proof.result_proof, merkle::DecodeInclusionProof(decoder));
  VIGIL_ASSIGN_OR_RETURN(proof.header, ledger::DecodeHeader(decoder));
  VIGIL_ASSIGN_OR_RETURN(proof.certificate, consensus::DecodeCommitCertificate(decoder));
  return proof;
}

Expected<TransactionProof> ProveTransaction(const ledger::Block& block,
                                            const CommittedBlock& committed, size_t index) {
  if (index >= block.transactions.size() || committed.results.size() != block.transactions.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot prove transaction " + std::to_string(index) + " of block " +
                    std::to_string(committed.height) + ": it holds " +
                    std::to_string(block.transactions.size()) + " transactions and " +
                    std::to_string(committed.results.size()) + " results");
  }
  TransactionProof proof;
  proof.height = committed.height;
  proof.transaction = block.transactions[index];
  proof.result = committed.results[index];
  VIGIL_ASSIGN_OR_RETURN(proof.transaction_proof,
                         merkle::Tree::FromLeaves(block.transactions).ProveInclusion(index));
  std::vector<Bytes> result_leaves;
  result_leaves.reserve(block.transactions.size());
  for (size_t i = 0; i < block.transactions.size(); ++i) {
    result_leaves.push_back(ledger::EncodeResultLeaf(
        ledger::ComputeTransactionId(block.transactions[i]), committed.results[i]));
  }
  VIGIL_ASSIGN_OR_RETURN(proof.result_proof,
                         merkle::Tree::FromLeaves(result_leaves).ProveInclusion(index));
  proof.header = block.header;
  proof.certificate = committed.certificate;
  return proof;
}

bool IsPeerFrame(transport::FrameType type) {
  return type >= kFrameConsensus && type <= kFrameSyncResponse;
}

bool IsClientRequestFrame(transport::FrameType type) {
  return type == kFrameSubmitRequest || type == kFrameBlockRequest ||
         type == kFrameTransactionRequest || type == kFrameSubscribeRequest ||
         type == kFrameStatusRequest || type == kFrameGroupRequest ||
         type == kFrameComplianceRequest;
}

std::string_view SubmitOutcomeName(SubmitOutcome outcome) {
  switch (outcome) {
    case SubmitOutcome::kRefused:
      return "refused";
    case SubmitOutcome::kPending:
      return "pending";
    case SubmitOutcome::kCommitted:
      return "committed";
  }
  return "unknown";
}

// --- Between validators ---

Bytes Encode(const TransactionBatch& message) {
  return EncodeWith(message, [](Encoder& encoder, const TransactionBatch& batch) {
    encoder.WriteVector(batch.transactions,
                        [](Encoder& inner, const Bytes& bytes) { inner.WriteBytes(bytes); });
  });
}

Expected<TransactionBatch> DecodeTransactionBatch(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<TransactionBatch> {
    TransactionBatch batch;
    VIGIL_ASSIGN_OR_RETURN(
        batch.transactions,
        decoder.ReadVector("transactions", limits::kLedgerBlockTransactionsMax, [](Decoder& inner) {
          return inner.ReadBytes("transaction", limits::kLedgerTransactionBytesMax);
        }));
    return batch;
  });
}

Bytes Encode(const PeerStatus& message) {
  return EncodeWith(message, [](Encoder& encoder, const PeerStatus& status) {
    encoder.WriteU64(status.height);
  });
}

Expected<PeerStatus> DecodePeerStatus(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<PeerStatus> {
    PeerStatus status;
    VIGIL_ASSIGN_OR_RETURN(status.height, decoder.ReadU64("height"));
    return status;
  });
}

Bytes Encode(const SyncRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const SyncRequest& request) {
    encoder.WriteU64(request.from_height);
    encoder.WriteU32(request.count);
  });
}

Expected<SyncRequest> DecodeSyncRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<SyncRequest> {
    SyncRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.from_height, decoder.ReadU64("from_height"));
    VIGIL_ASSIGN_OR_RETURN(request.count, decoder.ReadU32("count"));
    if (request.from_height == 0) {
      return Fail(ErrorCode::kInvalidArgument, "from_height: blocks start at height 1");
    }
    if (request.count == 0 || request.count > limits::kPeerSyncBlocksPerResponse) {
      return Fail(ErrorCode::kInvalidArgument,
                  "count: " + std::to_string(request.count) + " is not in 1.." +
                      std::to_string(limits::kPeerSyncBlocksPerResponse));
    }
    return request;
  });
}

Bytes Encode(const SyncResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const SyncResponse& response) {
    encoder.WriteVector(response.commits, [](Encoder& inner, const consensus::Commit& commit) {
      consensus::EncodeCommit(inner, commit);
    });
  });
}

Expected<SyncResponse> DecodeSyncResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<SyncResponse> {
    SyncResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.commits,
                           decoder.ReadVector("commits", limits::kPeerSyncBlocksPerResponse,
                                              [](Decoder& inner) {
                                                return consensus::DecodeCommit(inner);
                                              }));
    return response;
  });
}

// --- Client API ---

Bytes Encode(const SubmitRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const SubmitRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteBytes(request.transaction);
    encoder.WriteBool(request.wait_for_commit);
  });
}

Expected<SubmitRequest> DecodeSubmitRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<SubmitRequest> {
    SubmitRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.transaction,
                           decoder.ReadBytes("transaction", limits::kLedgerTransactionBytesMax));
    VIGIL_ASSIGN_OR_RETURN(request.wait_for_commit, decoder.ReadBool("wait_for_commit"));
    return request;
  });
}

Bytes Encode(const SubmitResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const SubmitResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteFixed(response.transaction_id);
    encoder.WriteU8(static_cast<uint8_t>(response.outcome));
    ledger::EncodeResult(encoder, response.result);
    encoder.WriteU64(response.height);
    encoder.WriteU64(response.index);
  });
}

Expected<SubmitResponse> DecodeSubmitResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<SubmitResponse> {
    SubmitResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.transaction_id,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("transaction_id"));
    VIGIL_ASSIGN_OR_RETURN(uint8_t outcome, decoder.ReadU8("outcome"));
    if (outcome < static_cast<uint8_t>(SubmitOutcome::kRefused) ||
        outcome > static_cast<uint8_t>(SubmitOutcome::kCommitted)) {
      return Fail(ErrorCode::kInvalidArgument, "outcome: unknown value " + std::to_string(outcome));
    }
    response.outcome = static_cast<SubmitOutcome>(outcome);
    VIGIL_ASSIGN_OR_RETURN(response.result, ledger::DecodeResult(decoder));
    VIGIL_ASSIGN_OR_RETURN(response.height, decoder.ReadU64("height"));
    VIGIL_ASSIGN_OR_RETURN(response.index, decoder.ReadU64("index"));
    return response;
  });
}

Bytes Encode(const BlockRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const BlockRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteU64(request.height);
  });
}

Expected<BlockRequest> DecodeBlockRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<BlockRequest> {
    BlockRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.height, decoder.ReadU64("height"));
    return request;
  });
}

Bytes Encode(const CommittedBlock& message) { return EncodeWith(message, WriteCommittedBlock); }

Expected<CommittedBlock> DecodeCommittedBlock(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, ReadCommittedBlock);
}

Bytes Encode(const BlockResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const BlockResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteOptional(response.block, WriteCommittedBlock);
  });
}

Expected<BlockResponse> DecodeBlockResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<BlockResponse> {
    BlockResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.block, decoder.ReadOptional("block", ReadCommittedBlock));
    return response;
  });
}

Bytes Encode(const TransactionRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const TransactionRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteFixed(request.transaction_id);
  });
}

Expected<TransactionRequest> DecodeTransactionRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<TransactionRequest> {
    TransactionRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.transaction_id,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("transaction_id"));
    return request;
  });
}

Bytes Encode(const TransactionResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const TransactionResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteOptional(response.proof, EncodeTransactionProof);
    encoder.WriteBool(response.pending);
  });
}

Expected<TransactionResponse> DecodeTransactionResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<TransactionResponse> {
    TransactionResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.proof, decoder.ReadOptional("proof", DecodeTransactionProof));
    VIGIL_ASSIGN_OR_RETURN(response.pending, decoder.ReadBool("pending"));
    return response;
  });
}

Bytes Encode(const SubscribeRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const SubscribeRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteU64(request.from_height);
  });
}

Expected<SubscribeRequest> DecodeSubscribeRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<SubscribeRequest> {
    SubscribeRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.from_height, decoder.ReadU64("from_height"));
    if (request.from_height == 0) {
      return Fail(ErrorCode::kInvalidArgument, "from_height: blocks start at height 1");
    }
    return request;
  });
}

Bytes Encode(const StatusRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const StatusRequest& request) {
    encoder.WriteU64(request.request_id);
  });
}

Expected<StatusRequest> DecodeStatusRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<StatusRequest> {
    StatusRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    return request;
  });
}

Bytes Encode(const StatusResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const StatusResponse& status) {
    encoder.WriteU64(status.request_id);
    encoder.WriteString(status.node_name);
    encoder.WriteString(status.chain_id);
    encoder.WriteFixed(status.genesis_hash);
    encoder.WriteU64(status.height);
    encoder.WriteFixed(status.block_hash);
    encoder.WriteFixed(status.state_hash);
    encoder.WriteI64(status.block_time_ms);
    encoder.WriteU32(status.rules_version);
    encoder.WriteU32(status.validators);
    encoder.WriteBool(status.is_validator);
    encoder.WriteU32(status.peers_connected);
    encoder.WriteU64(status.mempool_transactions);
    encoder.WriteU64(status.mempool_bytes);
    encoder.WriteU32(status.consensus_round);
    encoder.WriteU64(status.evidence_count);
  });
}

Expected<StatusResponse> DecodeStatusResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<StatusResponse> {
    StatusResponse status;
    VIGIL_ASSIGN_OR_RETURN(status.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(status.node_name,
                           decoder.ReadString("node_name", limits::kCertificateNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(status.chain_id,
                           decoder.ReadString("chain_id", limits::kConsensusChainIdBytesMax));
    VIGIL_ASSIGN_OR_RETURN(status.genesis_hash,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("genesis_hash"));
    VIGIL_ASSIGN_OR_RETURN(status.height, decoder.ReadU64("height"));
    VIGIL_ASSIGN_OR_RETURN(status.block_hash,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("block_hash"));
    VIGIL_ASSIGN_OR_RETURN(status.state_hash,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("state_hash"));
    VIGIL_ASSIGN_OR_RETURN(status.block_time_ms, decoder.ReadI64("block_time_ms"));
    VIGIL_ASSIGN_OR_RETURN(status.rules_version, decoder.ReadU32("rules_version"));
    VIGIL_ASSIGN_OR_RETURN(status.validators, decoder.ReadU32("validators"));
    VIGIL_ASSIGN_OR_RETURN(status.is_validator, decoder.ReadBool("is_validator"));
    VIGIL_ASSIGN_OR_RETURN(status.peers_connected, decoder.ReadU32("peers_connected"));
    VIGIL_ASSIGN_OR_RETURN(status.mempool_transactions, decoder.ReadU64("mempool_transactions"));
    VIGIL_ASSIGN_OR_RETURN(status.mempool_bytes, decoder.ReadU64("mempool_bytes"));
    VIGIL_ASSIGN_OR_RETURN(status.consensus_round, decoder.ReadU32("consensus_round"));
    VIGIL_ASSIGN_OR_RETURN(status.evidence_count, decoder.ReadU64("evidence_count"));
    return status;
  });
}

Bytes Encode(const ErrorResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const ErrorResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteString(response.message);
  });
}

Expected<ErrorResponse> DecodeErrorResponse(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ErrorResponse> {
    ErrorResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.message,
                           decoder.ReadString("message", limits::kLedgerReasonBytesMax));
    return response;
  });
}

Bytes Encode(const GroupRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const GroupRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteString(request.group);
  });
}

Expected<GroupRequest> DecodeGroupRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<GroupRequest> {
    GroupRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.group,
                           decoder.ReadString("group", limits::kLedgerNameBytesMax));
    VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("group", request.group));
    return request;
  });
}

Bytes Encode(const GroupResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const GroupResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteU64(response.height);
    encoder.WriteI64(response.block_time_ms);
    encoder.WriteVector(response.devices, [](Encoder& e, const GroupDevice& device) {
      e.WriteFixed(device.device_key);
      e.WriteVector(device.apps, [](Encoder& a, const GroupDeviceApp& app) {
        a.WriteString(app.app);
        a.WriteString(app.installed_version);
        a.WriteString(app.active_version);
      });
    });
    encoder.WriteBool(response.devices_truncated);
    encoder.WriteVector(response.activations, [](Encoder& e, const GroupActivation& activation) {
      e.WriteString(activation.app);
      ledger::EncodeActivationRecord(e, activation.record);
      e.WriteOptional(activation.proof, EncodeTransactionProof);
    });
  });
}

Expected<GroupResponse> DecodeGroupResponse(ByteSpan bytes) {
  auto read_version = [](Decoder& d, std::string_view field) {
    return d.ReadString(field, limits::kLedgerVersionBytesMax);
  };
  auto read_app = [&](Decoder& d) -> Expected<GroupDeviceApp> {
    GroupDeviceApp app;
    VIGIL_ASSIGN_OR_RETURN(app.app, d.ReadString("app", limits::kLedgerNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(app.installed_version, read_version(d, "installed_version"));
    VIGIL_ASSIGN_OR_RETURN(app.active_version, read_version(d, "active_version"));
    return app;
  };
  auto read_device = [&](Decoder& d) -> Expected<GroupDevice> {
    GroupDevice device;
    VIGIL_ASSIGN_OR_RETURN(device.device_key,
                           d.ReadFixed<limits::kEd25519PublicKeyBytes>("device_key"));
    VIGIL_ASSIGN_OR_RETURN(device.apps, d.ReadVector("apps", limits::kApiGroupAppsMax, read_app));
    return device;
  };
  auto read_activation = [](Decoder& d) -> Expected<GroupActivation> {
    GroupActivation activation;
    VIGIL_ASSIGN_OR_RETURN(activation.app, d.ReadString("app", limits::kLedgerNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(activation.record, ledger::DecodeActivationRecord(d));
    VIGIL_ASSIGN_OR_RETURN(activation.proof, d.ReadOptional("proof", DecodeTransactionProof));
    return activation;
  };
  return codec::DecodeExactly(bytes, [&](Decoder& decoder) -> Expected<GroupResponse> {
    GroupResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.height, decoder.ReadU64("height"));
    VIGIL_ASSIGN_OR_RETURN(response.block_time_ms, decoder.ReadI64("block_time_ms"));
    VIGIL_ASSIGN_OR_RETURN(response.devices,
                           decoder.ReadVector("devices", limits::kApiGroupDevicesMax, read_device));
    VIGIL_ASSIGN_OR_RETURN(response.devices_truncated, decoder.ReadBool("devices_truncated"));
    VIGIL_ASSIGN_OR_RETURN(
        response.activations,
        decoder.ReadVector("activations", limits::kApiGroupAppsMax, read_activation));
    return response;
  });
}

Bytes Encode(const ComplianceRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const ComplianceRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteString(request.group);
    encoder.WriteOptional(request.start_after,
                          [](Encoder& e, const crypto::PublicKey& key) { e.WriteFixed(key); });
  });
}

Expected<ComplianceRequest> DecodeComplianceRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ComplianceRequest> {
    ComplianceRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(request.group,
                           decoder.ReadString("group", limits::kApiComplianceGroupBytesMax));
    if (!request.group.empty()) {
      VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("group", request.group));
    }
    VIGIL_ASSIGN_OR_RETURN(request.start_after,
                           decoder.ReadOptional("start_after", [](Decoder& d) {
                             return d.ReadFixed<limits::kEd25519PublicKeyBytes>("start_after");
                           }));
    return request;
  });
}

Bytes Encode(const ComplianceResponse& message) {
  return EncodeWith(message, [](Encoder& encoder, const ComplianceResponse& response) {
    encoder.WriteU64(response.request_id);
    encoder.WriteU64(response.height);
    encoder.WriteI64(response.block_time_ms);
    encoder.WriteFixed(response.block_hash);
    encoder.WriteFixed(response.state_hash);
    encoder.WriteVector(response.devices, [](Encoder& e, const ComplianceDevice& device) {
      e.WriteFixed(device.device_key);
      e.WriteString(device.group);
      e.WriteVector(device.apps, [](Encoder& a, const ComplianceApp& app) {
        a.WriteString(app.app);
        ledger::EncodeComplianceRecord(a, app.record);
      });
      e.WriteBool(device.apps_truncated);
    });
    encoder.WriteBool(response.devices_truncated);
  });
}

Expected<ComplianceResponse> DecodeComplianceResponse(ByteSpan bytes) {
  auto read_app = [](Decoder& d) -> Expected<ComplianceApp> {
    ComplianceApp app;
    VIGIL_ASSIGN_OR_RETURN(app.app, d.ReadString("app", limits::kLedgerNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(app.record, ledger::DecodeComplianceRecord(d));
    return app;
  };
  auto read_device = [&](Decoder& d) -> Expected<ComplianceDevice> {
    ComplianceDevice device;
    VIGIL_ASSIGN_OR_RETURN(device.device_key,
                           d.ReadFixed<limits::kEd25519PublicKeyBytes>("device_key"));
    VIGIL_ASSIGN_OR_RETURN(device.group, d.ReadString("group", limits::kLedgerNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(device.apps,
                           d.ReadVector("apps", limits::kApiComplianceAppsMax, read_app));
    VIGIL_ASSIGN_OR_RETURN(device.apps_truncated, d.ReadBool("apps_truncated"));
    return device;
  };
  return codec::DecodeExactly(bytes, [&](Decoder& decoder) -> Expected<ComplianceResponse> {
    ComplianceResponse response;
    VIGIL_ASSIGN_OR_RETURN(response.request_id, decoder.ReadU64("request_id"));
    VIGIL_ASSIGN_OR_RETURN(response.height, decoder.ReadU64("height"));
    VIGIL_ASSIGN_OR_RETURN(response.block_time_ms, decoder.ReadI64("block_time_ms"));
    VIGIL_ASSIGN_OR_RETURN(response.block_hash,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("block_hash"));
    VIGIL_ASSIGN_OR_RETURN(response.state_hash,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("state_hash"));
    VIGIL_ASSIGN_OR_RETURN(
        response.devices,
        decoder.ReadVector("devices", limits::kApiComplianceDevicesMax, read_device));
    VIGIL_ASSIGN_OR_RETURN(response.devices_truncated, decoder.ReadBool("devices_truncated"));
    return response;
  });
}

std::optional<uint64_t> RequestIdOf(transport::FrameType type, ByteSpan payload) {
  if (!IsClientRequestFrame(type) && type != kFrameSubmitResponse && type != kFrameBlockResponse &&
      type != kFrameTransactionResponse && type != kFrameStatusResponse &&
      type != kFrameErrorResponse && type != kFrameGroupResponse &&
      type != kFrameComplianceResponse) {
    return std::nullopt;
  }
  codec::Decoder decoder(payload);
  auto id = decoder.ReadU64("request_id");
  if (!id) return std::nullopt;
  return *id;
}

Status DecodeFrame(transport::FrameType type, ByteSpan payload) {
  auto discard = [](const auto& decoded) -> Status {
    if (!decoded) return std::unexpected(decoded.error());
    return Ok();
  };
  switch (type) {
    case kFrameConsensus:
      return discard(consensus::DecodeMessage(payload));
    case kFrameTransactions:
      return discard(DecodeTransactionBatch(payload));
    case kFramePeerStatus:
      return discard(DecodePeerStatus(payload));
    case kFrameSyncRequest:
      return discard(DecodeSyncRequest(payload));
    case kFrameSyncResponse:
      return discard(DecodeSyncResponse(payload));
    case kFrameSubmitRequest:
      return discard(DecodeSubmitRequest(payload));
    case kFrameSubmitResponse:
      return discard(DecodeSubmitResponse(payload));
    case kFrameBlockRequest:
      return discard(DecodeBlockRequest(payload));
    case kFrameBlockResponse:
      return discard(DecodeBlockResponse(payload));
    case kFrameTransactionRequest:
      return discard(DecodeTransactionRequest(payload));
    case kFrameTransactionResponse:
      return discard(DecodeTransactionResponse(payload));
    case kFrameSubscribeRequest:
      return discard(DecodeSubscribeRequest(payload));
    case kFrameBlockEvent:
      return discard(DecodeCommittedBlock(payload));
    case kFrameStatusRequest:
      return discard(DecodeStatusRequest(payload));
    case kFrameStatusResponse:
      return discard(DecodeStatusResponse(payload));
    case kFrameErrorResponse:
      return discard(DecodeErrorResponse(payload));
    case kFrameGroupRequest:
      return discard(DecodeGroupRequest(payload));
    case kFrameGroupResponse:
      return discard(DecodeGroupResponse(payload));
    case kFrameComplianceRequest:
      return discard(DecodeComplianceRequest(payload));
    case kFrameComplianceResponse:
      return discard(DecodeComplianceResponse(payload));
    default:
      return Fail(ErrorCode::kRefused, "frame type " + std::to_string(type) + " is not in the peer protocol");
  }
}

// --- Light client ---

Status VerifyTransactionProof(const consensus::ValidatorSet& validators, std::string_view chain_id,
                              const TransactionProof& proof) {
  if (proof.header.chain_id != chain_id) {
    return Fail(ErrorCode::kRefused, "the block is of chain '" + proof.header.chain_id +
                                         "', not '" + std::string(chain_id) + "'");
  }
  if (proof.header.height != proof.height) {
    return Fail(ErrorCode::kCorruption, "the proof names height " + std::to_string(proof.height) +
                                            " but its header is of height " +
                                            std::to_string(proof.header.height));
  }
  VIGIL_RETURN_IF_ERROR(ledger::VerifyHeaderCommitted(validators, proof.header, proof.certificate));
  VIGIL_RETURN_IF_ERROR(
      ledger::VerifyTransactionInclusion(proof.transaction, proof.transaction_proof, proof.header));
  if (proof.result_proof.leaf_index != proof.transaction_proof.leaf_index) {
    return Fail(ErrorCode::kCorruption, "the result proof is for another position in the block");
  }
  return ledger::VerifyResultInclusion(ledger::ComputeTransactionId(proof.transaction),
                                       proof.result, proof.result_proof, proof.header);
}

Expected<ledger::Block> VerifyCommittedBlock(const consensus::ValidatorSet& validators,
                                             std::string_view chain_id,
                                             const CommittedBlock& committed) {
  VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(committed.block));
  if (block.header.chain_id != chain_id) {
    return Fail(ErrorCode::kRefused, "block " + std::to_string(block.header.height) +
                                         " is of chain '" + block.header.chain_id + "'");
  }
  if (block.header.height != committed.height) {
    return Fail(ErrorCode::kCorruption, "a block of height " +
                                            std::to_string(block.header.height) +
                                            " was sent as height " +
                                            std::to_string(committed.height));
  }
  VIGIL_RETURN_IF_ERROR(ledger::VerifyHeaderCommitted(validators, block.header,
                                                      committed.certificate));
  if (ledger::TransactionsRoot(block.transactions) != block.header.transactions_root) {
    return Fail(ErrorCode::kCorruption, "block " + std::to_string(block.header.height) +
                                            ": transactions do not match the header's root");
  }
  if (committed.results.size() != block.transactions.size()) {
    return Fail(ErrorCode::kCorruption, "block " + std::to_string(block.header.height) + ": " +
                                            std::to_string(committed.results.size()) +
                                            " results for " +
                                            std::to_string(block.transactions.size()) +
                                            " transactions");
  }
  std::vector<ledger::TransactionId> ids;
  ids.reserve(block.transactions.size());
  for (const Bytes& transaction : block.transactions) {
    ids.push_back(ledger::ComputeTransactionId(transaction));
  }
  if (ledger::ResultsRoot(ids, committed.results) != block.header.results_root) {
    return Fail(ErrorCode::kCorruption, "block " + std::to_string(block.header.height) +
                                            ": results do not match the header's root");
  }
  return block;
}

}  // namespace vigil::api
