// The committed chain of one peer: its store on disk (store::BlockStore) and its ledger state
// in memory, kept equal. The only writer of the store.
//
// How ledger values map onto the store's opaque rows (docs/peer.md#storage; `vigil audit`
// reads them back the same way):
//   block row          EncodeBlock(block), BlockHash(header), state hash after the block,
//                      EncodeCommitCertificate(the certificate that finalized this block)
//   transaction rows   ComputeTransactionId(transaction i) → EncodeResult(result i)
//   state rows         the ledger state's own keys and values: the block's write set, and
//                      with block 1 the genesis state's entries first (so the table always
//                      holds the whole state)
//   metadata           "chain_id", "genesis" (the genesis JSON), "genesis_hash"
//
// Opening checks the store belongs to the genesis it is given, then loads the state from the
// store's state table and the tip from the last block (no replay: the store committed state
// and block together).
//
// Threads: the peer's event-loop thread owns it, with one exception that lets the loop go on
// while a block is being synced to disk: WriteCommit may run on another thread, during which
// the owner only reads (reads go through their own read-only store connection, `reader()`, and
// the in-memory state, which WriteCommit does not touch) and neither writes nor calls
// FinishCommit until WriteCommit has returned.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "api/messages.h"
#include "consensus/types.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "store/block_store.h"

namespace vigil::peer {

using crypto::Sha256Digest;

// Metadata names. DO NOT CHANGE: existing stores hold them.
inline constexpr std::string_view kMetadataChainId = "chain_id";
inline constexpr std::string_view kMetadataGenesis = "genesis";
inline constexpr std::string_view kMetadataGenesisHash = "genesis_hash";

// The store rows for one committed block.
store::BlockCommit MakeBlockCommit(const ledger::Block& block, Bytes encoded_block,
                                   const ledger::BlockExecution& execution,
                                   const consensus::CommitCertificate& certificate);

// A decided block, checked and executed, with the store rows that commit it (Chain::
// PrepareCommit): what moves between preparing, writing and finishing a commit.
struct PreparedCommit {
  ledger::Block block;
  ledger::BlockExecution execution;
  consensus::CommitCertificate certificate;
  store::BlockCommit rows;
};

class Chain {
 public:
  // Opens (or creates) DIR/ledger.sqlite3 for `genesis`. Refuses a store of another chain or
  // genesis, naming both.
  static Expected<std::unique_ptr<Chain>> Open(const std::filesystem::path& data_directory,
                                               const ledger::Genesis& genesis,
                                               store::StoreOptions options = {});

  const ledger::Genesis& genesis() const { return genesis_; }
  const Sha256Digest& genesis_hash() const { return genesis_hash_; }
  const consensus::ValidatorSet& validators() const { return validators_; }
  const ledger::State& state() const { return state_; }
  uint64_t height() const { return state_.tip().height; }
  // The certificate that finalized the last block: the next block's last_commit.
  const std::optional<consensus::CommitCertificate>& last_certificate() const {
    return last_certificate_;
  }
  // The writing connection (consensus state, metadata, blocks) and a read-only one for the
  // reads below and the peer's other lookups (see "Threads" above).
  store::BlockStore& store() { return *store_; }
  store::BlockStore& reader() { return *reader_; }

  // A commit in three steps, so that the store write (the slow part: one sync) can run on
  // another thread:
  // PrepareCommit checks the certificate of the block decided at height() + 1 and executes the
  // block (unless `execution` is the result of executing it already); it changes nothing. The
  // rows include `consensus_state` when given: the engine's write-ahead record that came with
  // the decision, then written in the same store transaction.
  Expected<PreparedCommit> PrepareCommit(ledger::Block block, Bytes encoded_block,
                                         const consensus::CommitCertificate& certificate,
                                         std::optional<ledger::BlockExecution> execution,
                                         const ledger::ExecuteOptions& options,
                                         std::optional<Bytes> consensus_state) const;
  // Writes block, results and state in one store transaction (one sync). On error the store is
  // unchanged.
  Status WriteCommit(const PreparedCommit& prepared);
  // After WriteCommit succeeded: moves the in-memory state to the block.
  void FinishCommit(const PreparedCommit& prepared);

  // Whether a transaction with this id is on the chain with a refusal as its result. Such a
  // transaction used no sequence number, so its signer's state cannot tell admission or block
  // validation that it may not be committed again (one that succeeded is caught by its used
  // sequence); this set can. Few: the mempool answers refusals itself, so blocks hold them
  // only when the state changed between admission and inclusion.
  bool CommittedWithRefusal(const ledger::TransactionId& id) const {
    return committed_with_refusal_.contains(id);
  }

  // A block may not hold a transaction already on the chain: its id cannot be stored twice, so
  // committing it would halt every peer at the store write. kAlreadyExists naming the first
  // such transaction and its height. Asks the store only about the block's replays (results
  // of bad sequence); any other transaction already on the chain was committed with a refusal.
  Status CheckNoneCommittedBefore(const ledger::BlockExecution& execution);

  // --- Reads for the client API and block sync. ---
  Expected<api::CommittedBlock> ReadCommittedBlock(uint64_t height);
  // nullopt when no committed transaction has that id.
  Expected<std::optional<api::TransactionProof>> ReadTransactionProof(
      const ledger::TransactionId& id);
  Expected<consensus::Commit> ReadCommit(uint64_t height);
  // A device group from the committed state, each activation with the proof of the
  // transaction that recorded it (the last successful activate of that group and app in the
  // block at its recorded height).
  Expected<api::GroupResponse> ReadGroup(const std::string& group);
  // One page of compliance verdicts at the committed state (api::ComplianceRequest).
  api::ComplianceResponse ReadCompliance(const api::ComplianceRequest& request) const;

 private:
  Chain(std::unique_ptr<store::BlockStore> store, ledger::Genesis genesis);
  Status Load();

  std::unique_ptr<store::BlockStore> store_;
  std::unique_ptr<store::BlockStore> reader_;
  ledger::Genesis genesis_;
  Sha256Digest genesis_hash_{};
  consensus::ValidatorSet validators_;
  ledger::State state_;
  std::optional<consensus::CommitCertificate> last_certificate_;
  std::set<ledger::TransactionId> committed_with_refusal_;
};

}  // namespace vigil::peer
