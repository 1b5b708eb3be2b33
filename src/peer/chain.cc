#include "peer/chain.h"

#include <map>

#include "common/bytes.h"
#include "common/file.h"
#include "common/limits.h"

namespace vigil::peer {
namespace {

std::string ShortHex(ByteSpan bytes) { return ToHex(bytes).substr(0, 16); }

}  // namespace

store::BlockCommit MakeBlockCommit(const ledger::Block& block, Bytes encoded_block,
                                   const ledger::BlockExecution& execution,
                                   const consensus::CommitCertificate& certificate) {
  store::BlockCommit commit;
  commit.height = block.header.height;
  commit.block_hash = Bytes(execution.tip.block_hash.begin(), execution.tip.block_hash.end());
  commit.previous_block_hash =
      Bytes(block.header.previous_block_hash.begin(), block.header.previous_block_hash.end());
  commit.block = std::move(encoded_block);
  commit.commit_certificate = consensus::EncodeCommitCertificate(certificate);
  commit.transactions.reserve(execution.results.size());
  for (size_t i = 0; i < execution.results.size(); ++i) {
    const auto& id = execution.transaction_ids[i];
    commit.transactions.push_back(store::TransactionEntry{
        .id = Bytes(id.begin(), id.end()), .result = ledger::EncodeResult(execution.results[i])});
  }
  commit.state_writes.reserve(execution.writes.size());
  for (const auto& [key, value] : execution.writes) {
    commit.state_writes.push_back(store::StateWrite{.key = key, .value = value});
  }
  commit.state_hash = Bytes(execution.tip.state_hash.begin(), execution.tip.state_hash.end());
  return commit;
}

Chain::Chain(std::unique_ptr<store::BlockStore> store, ledger::Genesis genesis)
    : store_(std::move(store)), genesis_(std::move(genesis)) {
  genesis_hash_ = ledger::GenesisHash(genesis_);
  validators_ = ledger::GenesisValidatorSet(genesis_);
}

Expected<std::unique_ptr<Chain>> Chain::Open(const std::filesystem::path& data_directory,
                                             const ledger::Genesis& genesis,
                                             store::StoreOptions options) {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(data_directory, 0700));
  VIGIL_ASSIGN_OR_RETURN(auto store,
                         store::BlockStore::Open(data_directory / store::kStoreFileName, options));
  std::unique_ptr<Chain> chain(new Chain(std::move(store), genesis));
  VIGIL_RETURN_IF_ERROR(chain->Load());
  store::StoreOptions read_options{.read_only = true,
                                   .create_if_missing = false,
                                   .synchronous = options.synchronous,
                                   .busy_timeout = options.busy_timeout,
                                   .fault_hook = {}};
  VIGIL_ASSIGN_OR_RETURN(chain->reader_, store::BlockStore::Open(
                                             data_directory / store::kStoreFileName, read_options));
  return chain;
}

Status Chain::Load() {
  VIGIL_ASSIGN_OR_RETURN(auto stored_hash, store_->GetMetadata(kMetadataGenesisHash));
  if (stored_hash) {
    if (*stored_hash != Bytes(genesis_hash_.begin(), genesis_hash_.end())) {
      VIGIL_ASSIGN_OR_RETURN(auto stored_chain, store_->GetMetadata(kMetadataChainId));
      std::string chain = stored_chain ? std::string(stored_chain->begin(), stored_chain->end())
                                       : std::string("?");
      return Fail(ErrorCode::kRefused,
                  "the store at " + store_->path().string() + " belongs to chain '" + chain +
                      "' with genesis " + ShortHex(*stored_hash) + ", not to chain '" +
                      genesis_.chain_id + "' with genesis " + ShortHex(genesis_hash_) +
                      ": use another data directory or the right genesis file");
    }
  } else {
    VIGIL_RETURN_IF_ERROR(store_->SetMetadata(kMetadataChainId, ToBytes(genesis_.chain_id)));
    VIGIL_RETURN_IF_ERROR(store_->SetMetadata(kMetadataGenesis, ToBytes(ledger::GenesisToJson(genesis_))));
    VIGIL_RETURN_IF_ERROR(store_->SetMetadata(kMetadataGenesisHash, genesis_hash_));
  }

  // O(transactions committed): the store keeps no separate index of the refused ones yet.
  VIGIL_ASSIGN_OR_RETURN(auto refused_ids, store_->TransactionIdsWithResultOtherThan(
                                               ledger::EncodeResult(ledger::TransactionResult{})));
  for (const Bytes& id : refused_ids) {
    ledger::TransactionId transaction_id{};
    if (id.size() != transaction_id.size()) {
      return Fail(ErrorCode::kCorruption, store_->path().string() +
                                              ": a transaction id of " +
                                              std::to_string(id.size()) + " bytes is stored");
    }
    std::ranges::copy(id, transaction_id.begin());
    committed_with_refusal_.insert(transaction_id);
  }

  VIGIL_ASSIGN_OR_RETURN(uint64_t height, store_->LastHeight());
  if (height == 0) {
    state_ = ledger::GenesisState(genesis_);
    last_certificate_.reset();
    return Ok();
  }
  std::map<Bytes, Bytes> entries;
  Bytes after;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(auto page, store_->ScanState({}, limits::kStoreScanEntriesMax, after));
    for (auto& entry : page) entries.emplace_hint(entries.end(), entry.key, std::move(entry.value));
    if (page.size() < limits::kStoreScanEntriesMax) break;
    after = page.back().key;
  }
  VIGIL_ASSIGN_OR_RETURN(store::StoredBlock last, store_->GetBlock(height));
  VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(last.block));
  VIGIL_ASSIGN_OR_RETURN(last_certificate_,
                         consensus::DecodeCommitCertificate(ByteSpan(last.commit_certificate)));
  ledger::ChainTip tip{.height = height,
                       .block_hash = ledger::BlockHash(block.header),
                       .state_hash = {},
                       .time_ms = block.header.time_ms};
  if (last.state_hash.size() != tip.state_hash.size()) {
    return Fail(ErrorCode::kCorruption, "the stored state hash of block " +
                                            std::to_string(height) + " has the wrong size");
  }
  std::copy(last.state_hash.begin(), last.state_hash.end(), tip.state_hash.begin());
  VIGIL_ASSIGN_OR_RETURN(state_, ledger::State::FromEntries(std::move(entries), tip));
  return Ok();
}

Expected<PreparedCommit> Chain::PrepareCommit(ledger::Block block, Bytes encoded_block,
                                              const consensus::CommitCertificate& certificate,
                                              std::optional<ledger::BlockExecution> execution,
                                              const ledger::ExecuteOptions& options,
                                              std::optional<Bytes> consensus_state) const {
  if (block.header.height != height() + 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot commit block " + std::to_string(block.header.height) +
                    " on top of height " + std::to_string(height()));
  }
  VIGIL_RETURN_IF_ERROR(consensus::VerifyCommitCertificate(
      validators_, genesis_.chain_id, block.header.height, ledger::BlockHash(block.header),
      certificate, options.verify));
  if (!execution || execution->tip.block_hash != ledger::BlockHash(block.header)) {
    VIGIL_ASSIGN_OR_RETURN(execution, ledger::ExecuteBlock(state_, block, options));
  }
  store::BlockCommit rows =
      MakeBlockCommit(block, std::move(encoded_block), *execution, certificate);
  rows.consensus_state = std::move(consensus_state);
  if (block.header.height == 1) {
    // The store's state table holds the whole state, so the genesis entries go in with the
    // first block (before its own writes, which win).
    std::vector<store::StateWrite> writes;
    const ledger::State genesis_state = ledger::GenesisState(genesis_);
    for (const auto& [key, value] : genesis_state.entries()) {
      writes.push_back(store::StateWrite{.key = key, .value = value});
    }
    writes.insert(writes.end(), std::make_move_iterator(rows.state_writes.begin()),
                  std::make_move_iterator(rows.state_writes.end()));
    rows.state_writes = std::move(writes);
  }
  return PreparedCommit{.block = std::move(block),
                        .execution = std::move(*execution),
                        .certificate = certificate,
                        .rows = std::move(rows)};
}

Status Chain::WriteCommit(const PreparedCommit& prepared) {
  return store_->CommitBlock(prepared.rows);
}

void Chain::FinishCommit(const PreparedCommit& prepared) {
  VIGIL_ASSERT(prepared.block.header.height == height() + 1);
  ledger::ApplyBlock(state_, prepared.execution);
  last_certificate_ = prepared.certificate;
  const ledger::BlockExecution& execution = prepared.execution;
  for (size_t i = 0; i < execution.results.size(); ++i) {
    if (!execution.results[i].ok()) committed_with_refusal_.insert(execution.transaction_ids[i]);
  }
}

Status Chain::CheckNoneCommittedBefore(const ledger::BlockExecution& execution) {
  for (size_t i = 0; i < execution.transaction_ids.size(); ++i) {
    const ledger::TransactionId& id = execution.transaction_ids[i];
    bool before = CommittedWithRefusal(id);
    if (!before && execution.results[i].code == ledger::ResultCode::kBadSequence) {
      auto location = reader_->FindTransaction(id);
      if (!location && location.error().code() != ErrorCode::kNotFound) {
        return std::unexpected(location.error().WithContext(
            "cannot tell whether transaction " + ToHex(id) + " is already on the chain"));
      }
      before = location.has_value();
    }
    if (before) {
      return Fail(ErrorCode::kAlreadyExists, "transaction " + std::to_string(i) + " (id " +
                                                 ToHex(id) + ") is already on the chain");
    }
  }
  return Ok();
}

Expected<api::CommittedBlock> Chain::ReadCommittedBlock(uint64_t height) {
  VIGIL_ASSIGN_OR_RETURN(store::StoredBlock stored, reader_->GetBlock(height));
  VIGIL_ASSIGN_OR_RETURN(auto entries, reader_->TransactionsOfBlock(height));
  api::CommittedBlock committed;
  committed.height = height;
  committed.block = std::move(stored.block);
  VIGIL_ASSIGN_OR_RETURN(committed.certificate,
                         consensus::DecodeCommitCertificate(ByteSpan(stored.commit_certificate)));
  committed.results.reserve(entries.size());
  for (const auto& entry : entries) {
    VIGIL_ASSIGN_OR_RETURN(auto result, ledger::DecodeResult(ByteSpan(entry.result)));
    committed.results.push_back(std::move(result));
  }
  return committed;
}

Expected<consensus::Commit> Chain::ReadCommit(uint64_t height) {
  VIGIL_ASSIGN_OR_RETURN(store::StoredBlock stored, reader_->GetBlock(height));
  consensus::Commit commit;
  commit.value = std::move(stored.block);
  VIGIL_ASSIGN_OR_RETURN(commit.certificate,
                         consensus::DecodeCommitCertificate(ByteSpan(stored.commit_certificate)));
  return commit;
}

Expected<std::optional<api::TransactionProof>> Chain::ReadTransactionProof(
    const ledger::TransactionId& id) {
  auto location = reader_->FindTransaction(id);
  if (!location) {
    if (location.error().code() == ErrorCode::kNotFound) {
      return std::optional<api::TransactionProof>();
    }
    return std::unexpected(location.error());
  }
  VIGIL_ASSIGN_OR_RETURN(api::CommittedBlock committed, ReadCommittedBlock(location->height));
  VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(committed.block));
  if (location->index >= block.transactions.size()) {
    return Fail(ErrorCode::kCorruption, "the transaction index points past block " +
                                            std::to_string(location->height));
  }
  VIGIL_ASSIGN_OR_RETURN(api::TransactionProof proof,
                         api::ProveTransaction(block, committed, location->index));
  return std::optional<api::TransactionProof>(std::move(proof));
}

Expected<api::GroupResponse> Chain::ReadGroup(const std::string& group) {
  api::GroupResponse response;
  response.height = state_.tip().height;
  response.block_time_ms = state_.tip().time_ms;
  std::vector<crypto::PublicKey> devices = ledger::ListGroupDevices(state_, group);
  response.devices_truncated = devices.size() > limits::kApiGroupDevicesMax;
  if (response.devices_truncated) devices.resize(limits::kApiGroupDevicesMax);
  for (const crypto::PublicKey& key : devices) {
    api::GroupDevice device{.device_key = key, .apps = {}};
    for (auto& [app, record] : ledger::ListDeviceApps(state_, key)) {
      if (device.apps.size() >= limits::kApiGroupAppsMax) break;
      device.apps.push_back({.app = app,
                             .installed_version = record.installed_version,
                             .active_version = record.active_version});
    }
    response.devices.push_back(std::move(device));
  }
  for (auto& [app, record] : ledger::ListActivations(state_, group)) {
    if (response.activations.size() >= limits::kApiGroupAppsMax) break;
    api::GroupActivation activation{.app = app, .record = record, .proof = std::nullopt};
    VIGIL_ASSIGN_OR_RETURN(api::CommittedBlock committed, ReadCommittedBlock(record.recorded_height));
    VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(committed.block));
    for (size_t i = 0; i < block.transactions.size() && i < committed.results.size(); ++i) {
      if (!committed.results[i].ok()) continue;
      auto envelope = ledger::DecodeEnvelope(block.transactions[i]);
      if (!envelope || envelope->kind != ledger::TransactionKind::kActivateRelease) continue;
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (!body) continue;
      const auto& activate = std::get<ledger::ActivateRelease>(*body);
      if (activate.group != group || activate.app != app) continue;
      VIGIL_ASSIGN_OR_RETURN(activation.proof, api::ProveTransaction(block, committed, i));
    }
    response.activations.push_back(std::move(activation));
  }
  return response;
}

api::ComplianceResponse Chain::ReadCompliance(const api::ComplianceRequest& request) const {
  const ledger::ChainTip& tip = state_.tip();
  api::ComplianceResponse response{.request_id = request.request_id,
                                   .height = tip.height,
                                   .block_time_ms = tip.time_ms,
                                   .block_hash = tip.block_hash,
                                   .state_hash = tip.state_hash,
                                   .devices = {},
                                   .devices_truncated = false};
  // Devices in key order: the group index for one group, the device table for all.
  std::vector<std::pair<crypto::PublicKey, std::string>> devices;
  if (!request.group.empty()) {
    for (const crypto::PublicKey& key : ledger::ListGroupDevices(state_, request.group)) {
      devices.emplace_back(key, request.group);
    }
  } else {
    for (auto& [key, record] : ledger::ListDevices(state_)) {
      if (record.status == ledger::DeviceStatus::kEnrolled) devices.emplace_back(key, record.group);
    }
  }
  for (auto& [key, group] : devices) {
    if (request.start_after && key <= *request.start_after) continue;
    if (response.devices.size() >= limits::kApiComplianceDevicesMax) {
      response.devices_truncated = true;
      break;
    }
    api::ComplianceDevice device{
        .device_key = key, .group = group, .apps = {}, .apps_truncated = false};
    for (const std::string& app : ledger::ComplianceApps(state_, key, group)) {
      if (device.apps.size() >= limits::kApiComplianceAppsMax) {
        device.apps_truncated = true;
        break;
      }
      device.apps.push_back(
          {.app = app,
           .record = ledger::EvaluateCompliance(state_, key, group, app, tip.height, tip.time_ms)});
    }
    response.devices.push_back(std::move(device));
  }
  return response;
}

}  // namespace vigil::peer
