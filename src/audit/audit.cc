#include "audit/audit.h"

#include <algorithm>
#include <map>
#include <utility>

#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/state.h"
#include "ledger/transaction.h"

namespace vigil::audit {
namespace {

std::string_view TableName(uint8_t table) {
  switch (static_cast<ledger::Table>(table)) {
    case ledger::Table::kConfig:
      return "config";
    case ledger::Table::kAdmin:
      return "admin";
    case ledger::Table::kValidator:
      return "validator";
    case ledger::Table::kSequence:
      return "sequence";
    case ledger::Table::kDevice:
      return "device";
    case ledger::Table::kDeviceReport:
      return "device report";
    case ledger::Table::kDeviceApp:
      return "device app";
    case ledger::Table::kPublisher:
      return "publisher";
    case ledger::Table::kRelease:
      return "release";
    case ledger::Table::kLatestRelease:
      return "latest release";
    case ledger::Table::kInstallation:
      return "installation";
    case ledger::Table::kRulesSupport:
      return "rules support";
    case ledger::Table::kActivation:
      return "activation";
    case ledger::Table::kGroupDevice:
      return "group device";
    case ledger::Table::kCompliance:
      return "compliance";
  }
  return "unknown table";
}

std::string DescribeKey(const Bytes& key) {
  std::string table = key.empty() ? "empty key" : std::string(TableName(key[0])) + " table";
  return "state key " + ShortHex(key) + " (" + table + ")";
}

std::string DescribeBytes(ByteSpan bytes) {
  return ShortHex(bytes) + " (" + std::to_string(bytes.size()) + " bytes)";
}

// "ok" or "unauthorized: signer ... is not an admin"; hex when the bytes do not decode.
std::string DescribeResult(ByteSpan encoded) {
  auto result = ledger::DecodeResult(encoded);
  if (!result) return "undecodable " + DescribeBytes(encoded);
  std::string text = "\"" + std::string(ledger::ResultCodeName(result->code));
  if (!result->reason.empty()) text += ": " + result->reason.substr(0, 120);
  return text + "\"";
}

bool Equal(ByteSpan left, ByteSpan right) { return std::ranges::equal(left, right); }

// The validators that decide the next height: those in the state (the ledger has no
// validator-change transaction yet, so this is the genesis set; when it gets one, the set in
// force at each height comes from the state the same way).
Expected<consensus::ValidatorSet> ValidatorsOf(const ledger::State& state) {
  std::vector<consensus::Validator> validators;
  for (const auto& [key, record] : ledger::ListValidators(state)) {
    validators.push_back({key, record.voting_power});
  }
  return consensus::ValidatorSet::Create(std::move(validators));
}

class Auditor {
 public:
  Auditor(store::BlockStore& store, const ledger::Genesis& genesis, const AuditOptions& options)
      : store_(store), genesis_(genesis), options_(options), state_(ledger::GenesisState(genesis)) {
    report_.chain_id = genesis.chain_id;
    report_.genesis_hash = ledger::GenesisHash(genesis);
    report_.tip = state_.tip();
  }

  Expected<AuditReport> Run() && {
    VIGIL_ASSIGN_OR_RETURN(report_.last_height, store_.LastHeight());
    CheckStore();
    bool complete = true;
    for (uint64_t height = 1; height <= report_.last_height && complete; ++height) {
      complete = VerifyBlock(height);
    }
    if (complete) CompareStateTable();
    report_.tip = state_.tip();
    report_.state_entries = state_.entries().size();
    for (const auto& [key, record] : ledger::ListValidators(state_)) {
      ++report_.validators;
      report_.total_voting_power += record.voting_power;
    }
    return std::move(report_);
  }

 private:
  void Add(uint64_t height, std::string subject, std::string message, bool fatal = false) {
    // A fatal finding is kept past the limit: it says where and why the audit stopped.
    if (report_.findings.size() >= kAuditFindingsMax && !fatal) {
      ++report_.findings_omitted;
      return;
    }
    report_.findings.push_back({height, std::move(subject), std::move(message), fatal});
  }
  bool Stop(uint64_t height, std::string subject, std::string message) {
    Add(height, std::move(subject), std::move(message), /*fatal=*/true);
    return false;
  }

  // The file's own consistency and the metadata that names the chain.
  void CheckStore() {
    if (auto status = store_.CheckIntegrity(); !status) {
      Add(0, "store integrity", status.error().message());
    } else {
      report_.integrity_check_passed = true;
    }
    auto chain_id = store_.GetMetadata(kChainIdMetadata);
    if (!chain_id) {
      Add(0, "metadata", "\"chain_id\" cannot be read: " + chain_id.error().message());
    } else if (!chain_id->has_value()) {
      Add(0, "metadata", "the store has no \"chain_id\" (a peer writes it before its first block)");
    } else if (!Equal(**chain_id, AsBytes(genesis_.chain_id))) {
      Add(0, "metadata",
          "\"chain_id\" is \"" +
              std::string((*chain_id)->begin(), (*chain_id)->end()).substr(0, 64) +
              "\" but the genesis says \"" + genesis_.chain_id + "\"");
    }
    auto stored = store_.GetMetadata(kGenesisMetadata);
    if (!stored) {
      Add(0, "metadata", "\"genesis\" cannot be read: " + stored.error().message());
      return;
    }
    if (!stored->has_value()) {
      Add(0, "metadata", "the store has no \"genesis\" (a peer writes it before its first block)");
      return;
    }
    auto parsed = ledger::ParseGenesis(
        std::string_view(reinterpret_cast<const char*>((*stored)->data()), (*stored)->size()));
    if (!parsed) {
      Add(0, "metadata", "the stored \"genesis\" does not parse: " + parsed.error().message());
    } else if (ledger::GenesisHash(*parsed) != report_.genesis_hash) {
      Add(0, "metadata",
          "the stored \"genesis\" hashes to " + ShortHex(ledger::GenesisHash(*parsed)) +
              ", the genesis audited against to " + ShortHex(report_.genesis_hash));
    }
  }

  // Verifies block `height` on the recomputed state and applies it. False when the audit must
  // stop: nothing after a block that cannot be executed can be verified.
  bool VerifyBlock(uint64_t height) {
    auto stored = store_.GetBlock(height);
    if (!stored) return Stop(height, "block", "cannot be read: " + stored.error().message());
    auto block = ledger::DecodeBlock(stored->block);
    if (!block) {
      return Stop(height, "block", "the stored block does not decode: " + block.error().message());
    }
    const ledger::BlockHeader& header = block->header;
    if (header.height != height) {
      return Stop(
          height, "block",
          "the block stored at this height says it is block " + std::to_string(header.height));
    }
    const crypto::Sha256Digest hash = ledger::BlockHash(header);
    if (!Equal(stored->block_hash, hash)) {
      Add(height, "block hash",
          "the store says " + ShortHex(stored->block_hash) + ", the header hashes to " +
              ShortHex(hash));
    }
    if (!CheckLinkage(header)) return false;
    auto validators = ValidatorsOf(state_);
    if (!validators) return Stop(height, "validators", validators.error().message());
    auto execution = ledger::ExecuteBlock(state_, *block, options_.execute);
    if (!execution) return Stop(height, "execution", execution.error().message());

    CompareTransactions(height, *stored, *execution);
    if (!Equal(stored->state_hash, execution->tip.state_hash)) {
      Add(height, "state hash",
          "the store says " + ShortHex(stored->state_hash) + ", re-execution gives " +
              ShortHex(execution->tip.state_hash));
    }
    CheckCertificate(height, stored->commit_certificate, hash, *validators);
    ledger::ApplyBlock(state_, *execution);
    report_.verified_height = height;
    report_.transactions += execution->results.size();
    if (options_.progress) options_.progress(height, report_.last_height);
    return true;
  }

  // ExecuteBlock checks this too; checking it first says what a mismatch at block 1 means.
  bool CheckLinkage(const ledger::BlockHeader& header) {
    const crypto::Sha256Digest& expected = state_.tip().block_hash;
    if (header.previous_block_hash == expected) return true;
    if (header.height == 1) {
      return Stop(1, "genesis",
                  "block 1 names " + ShortHex(header.previous_block_hash) +
                      " as the genesis hash, but the genesis audited against hashes to " +
                      ShortHex(expected) + ": this chain was started from another genesis");
    }
    return Stop(header.height, "previous block hash",
                "the block names " + ShortHex(header.previous_block_hash) + ", block " +
                    std::to_string(header.height - 1) + " hashes to " + ShortHex(expected));
  }

  // The stored transaction index (ids and results, in block order) against re-execution.
  void CompareTransactions(uint64_t height, const store::StoredBlock& stored,
                           const ledger::BlockExecution& execution) {
    const size_t count = execution.results.size();
    if (stored.transaction_count != count) {
      Add(height, "transaction count",
          "the store says " + std::to_string(stored.transaction_count) + ", the block holds " +
              std::to_string(count));
    }
    auto entries = store_.TransactionsOfBlock(height);
    if (!entries) {
      Add(height, "transactions", "cannot be read: " + entries.error().message());
      return;
    }
    if (entries->size() != count) {
      Add(height, "transactions",
          "the store indexes " + std::to_string(entries->size()) + ", the block holds " +
              std::to_string(count));
    }
    for (size_t i = 0; i < std::min(count, entries->size()); ++i) {
      const store::TransactionEntry& entry = (*entries)[i];
      const std::string subject = "transaction " + std::to_string(i);
      const ledger::TransactionId& id = execution.transaction_ids[i];
      if (!Equal(entry.id, id)) {
        Add(height, subject,
            "the store indexes id " + ShortHex(entry.id) + ", the block's transaction is " +
                ShortHex(id));
      }
      const Bytes expected = ledger::EncodeResult(execution.results[i]);
      if (!Equal(entry.result, expected)) {
        Add(height, subject,
            "(" + ShortHex(id) + ") the store says its result is " + DescribeResult(entry.result) +
                ", re-execution gives " + DescribeResult(expected));
      }
    }
  }

  // The certificate that finalized this block. Below the last block the next block's last
  // commit proves finality too (ExecuteBlock checked it); for the last block it is the only
  // proof, and peers serve the stored one to light clients and catching-up peers.
  void CheckCertificate(uint64_t height, const Bytes& encoded, const crypto::Sha256Digest& hash,
                        const consensus::ValidatorSet& validators) {
    const std::string why = height == report_.last_height
                                ? " (the last block: nothing else proves it was committed)"
                                : "";
    if (encoded.empty()) {
      Add(height, "commit certificate", "missing" + why);
      return;
    }
    auto certificate = consensus::DecodeCommitCertificate(encoded);
    if (!certificate) {
      Add(height, "commit certificate", "does not decode: " + certificate.error().message() + why);
      return;
    }
    auto verified = consensus::VerifyCommitCertificate(validators, genesis_.chain_id, height, hash,
                                                       *certificate, options_.execute.verify);
    if (!verified) {
      Add(height, "commit certificate", verified.error().message() + why);
      return;
    }
    ++report_.certificates_verified;
  }

  // The store's whole state table against the recomputed state, in key order. A peer writes
  // the genesis entries with block 1 (docs/audit.md#what-a-peer-stores), so an empty chain
  // has an empty table.
  void CompareStateTable() {
    report_.state_table_compared = true;
    static const std::map<Bytes, Bytes> kEmpty;
    const std::map<Bytes, Bytes>& expected =
        report_.verified_height == 0 ? kEmpty : state_.entries();
    auto next = expected.begin();
    auto missing = [&](const std::pair<const Bytes, Bytes>& entry) {
      Add(0, "state table",
          DescribeKey(entry.first) + " is missing from the store; re-execution gives " +
              DescribeBytes(entry.second));
    };
    Bytes after;
    for (;;) {
      auto page = store_.ScanState({}, kAuditStateEntriesPerPage, after);
      if (!page) {
        Add(0, "state table", "cannot be read: " + page.error().message());
        return;
      }
      for (const store::StateEntry& entry : *page) {
        for (; next != expected.end() && next->first < entry.key; ++next) missing(*next);
        if (next == expected.end() || next->first != entry.key) {
          Add(0, "state table",
              DescribeKey(entry.key) + " is in the store (" + DescribeBytes(entry.value) +
                  ") but not in the re-executed state");
          continue;
        }
        if (next->second != entry.value) {
          Add(0, "state table",
              DescribeKey(entry.key) + ": the store holds " + DescribeBytes(entry.value) +
                  ", re-execution gives " + DescribeBytes(next->second));
        }
        ++next;
      }
      if (page->size() < kAuditStateEntriesPerPage) break;
      after = page->back().key;
    }
    for (; next != expected.end(); ++next) missing(*next);
  }

  store::BlockStore& store_;
  const ledger::Genesis& genesis_;
  const AuditOptions& options_;
  ledger::State state_;
  AuditReport report_;
};

}  // namespace

std::string ShortHex(ByteSpan bytes) {
  constexpr size_t kShownBytes = 8;
  if (bytes.size() <= kShownBytes) return ToHex(bytes);
  return ToHex(bytes.first(kShownBytes)) + "...";
}

Expected<AuditReport> AuditChain(store::BlockStore& store, const ledger::Genesis& genesis,
                                 const AuditOptions& options) {
  return Auditor(store, genesis, options).Run();
}

Expected<ledger::Genesis> ChooseGenesis(store::BlockStore& store,
                                        const std::optional<ledger::Genesis>& given) {
  auto stored = store.GetMetadata(kGenesisMetadata);
  if (!stored) return std::unexpected(stored.error().WithContext("reading the stored genesis"));
  std::optional<Expected<ledger::Genesis>> parsed;
  if (stored->has_value()) {
    parsed = ledger::ParseGenesis(
        std::string_view(reinterpret_cast<const char*>((*stored)->data()), (*stored)->size()));
  }
  if (given.has_value()) {
    if (parsed.has_value() && parsed->has_value() &&
        ledger::GenesisHash(**parsed) != ledger::GenesisHash(*given)) {
      return Fail(ErrorCode::kRefused,
                  "the given genesis hashes to " + ShortHex(ledger::GenesisHash(*given)) +
                      " but this store was started from the genesis " +
                      ShortHex(ledger::GenesisHash(**parsed)) + " (chain \"" + (*parsed)->chain_id +
                      "\"): the file belongs to another chain");
    }
    return *given;
  }
  if (!parsed.has_value()) {
    return Fail(ErrorCode::kNotFound,
                "the store holds no genesis (metadata \"genesis\"); give the chain's genesis "
                "file (--genesis FILE)");
  }
  if (!parsed->has_value()) {
    return Fail(ErrorCode::kCorruption,
                "the store's genesis does not parse (" + parsed->error().message() +
                    "); give the chain's genesis file (--genesis FILE) to audit it anyway");
  }
  return std::move(**parsed);
}

}  // namespace vigil::audit
