// Test helpers for the audit: a real ledger chain (tests/ledger/test_chain.h) written into a
// real BlockStore exactly as a peer writes it (docs/audit.md#what-a-peer-stores), and raw SQL
// on the store file to tamper with what a BlockStore refuses to write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "consensus/types.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "ledger/test_chain.h"
#include "store/block_store.h"

namespace vigil::audit::testing {

// What a peer commits for one decided block. `genesis_state` is given for block 1 only: its
// entries go first in block 1's state writes, so the state table holds the whole ledger state.
store::BlockCommit MakeBlockCommit(const ledger::Block& block,
                                   const ledger::BlockExecution& execution,
                                   const consensus::CommitCertificate& certificate,
                                   const ledger::State* genesis_state = nullptr);

// The metadata a peer writes before its first block: the chain id and the genesis JSON.
Status WriteChainMetadata(store::BlockStore& store, const ledger::Genesis& genesis);

// A TestChain whose every committed block is also committed to `directory`/ledger.sqlite3.
class StoredChain {
 public:
  explicit StoredChain(const std::filesystem::path& directory);

  ledger::testing::TestChain& chain() { return chain_; }
  const std::filesystem::path& store_path() const { return store_path_; }
  uint64_t height() const { return chain_.state().tip().height; }

  // Commits the block to the chain and to the store.
  ledger::BlockExecution Commit(std::vector<Bytes> transactions);
  // Every kind of effect: enrolments, a release, reports, a refusal (included with its
  // result), a publisher added and removed (a deletion), a revocation, an empty block; then
  // device reports up to `height` blocks in all.
  void CommitMixedBlocks(uint64_t height);
  // Enrols `devices` devices, then commits `blocks` blocks of one integrity report per device.
  void CommitReportBlocks(size_t devices, uint64_t blocks);

  // Closes the writer, so that raw SQL and read-only audits see a quiet file.
  void Close() { store_.reset(); }

 private:
  ledger::testing::TestChain chain_;
  std::filesystem::path store_path_;
  std::unique_ptr<store::BlockStore> store_;
};

// Runs `sql` on the store file with a fresh SQLite connection, binding `blob` as ?1 when given;
// fails the test unless it changes at least one row.
void RunSql(const std::filesystem::path& store_path, std::string_view sql,
            std::optional<ByteSpan> blob = std::nullopt);
// One column of one row as bytes (e.g. "SELECT block FROM blocks WHERE height = 5").
Bytes QueryBlob(const std::filesystem::path& store_path, std::string_view sql);

// The device keys CommitReportBlocks enrols.
crypto::PrivateKey ReportingDeviceKey(size_t index);

}  // namespace vigil::audit::testing
