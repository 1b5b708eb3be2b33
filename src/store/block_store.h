// The durable storage of a ledger peer: blocks, their commit certificates, the transaction
// index, the current state, and the consensus engine's write-ahead state, in one SQLite
// database in WAL mode (docs/storage.md specifies the schema and the durability argument).
//
// The store does not know the ledger's types. It keeps opaque, already-encoded bytes (a block,
// a commit certificate, a transaction result, a state value) plus the few fields it indexes
// (height, block hash, transaction id, state key), so the ledger's encoding can evolve without
// a storage migration.
//
//   VIGIL_ASSIGN_OR_RETURN(auto store, BlockStore::Open(data_dir / kStoreFileName, {}));
//   VIGIL_RETURN_IF_ERROR(store->SaveConsensusState(encoded_durable_state));  // before sending
//   VIGIL_RETURN_IF_ERROR(store->CommitBlock(commit));  // block + results + state, atomically
//   VIGIL_ASSIGN_OR_RETURN(auto location, store->FindTransaction(transaction_id));
//
// Atomicity: CommitBlock writes a block, its transaction index entries, its state writes and
// (optionally) the consensus state in one SQLite transaction. A crash at any point (kill -9,
// power loss with synchronous=FULL) leaves either all of it or none of it, and every earlier
// block intact. Any error rolls back; the store is then exactly as before the call.
//
// Durability: with Synchronous::kFull (the default) a write has reached stable storage when
// the call returns, so a validator may send a vote right after SaveConsensusState returns
// (persist BEFORE send).
//
// Thread-safety: none; one thread uses one BlockStore (STYLE.md rule 3). WAL mode lets other
// BlockStores (read-only ones, e.g. the API server's or `vigil audit`'s) read the same file
// concurrently with the single writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "store/sqlite.h"

namespace vigil::store {

// The store's file inside a peer's data directory (`vigil peer --data DIR`, `vigil audit
// --data DIR`), so every command finds the same file. DO NOT CHANGE: existing stores use it.
inline constexpr std::string_view kStoreFileName = "ledger.sqlite3";

// The schema version this build writes; it opens older stores by migrating them and refuses
// newer ones. docs/storage.md#schema-versions lists what each version changed.
inline constexpr int64_t kSchemaVersion = 1;
// PRAGMA application_id of a Vigil store ("VGIL"), so a SQLite file of some other program is
// refused rather than written into. DO NOT CHANGE.
inline constexpr int32_t kApplicationId = 0x5647494c;

// How SQLite syncs a commit in WAL mode (https://sqlite.org/pragma.html#pragma_synchronous).
enum class Synchronous {
  // fsync the WAL at every commit: a returned commit survives power loss. The default, and
  // what a validator needs for persist-before-send.
  kFull,
  // fsync only at checkpoints: a returned commit survives a process crash but may be lost
  // with the last few others on power loss (never corrupting the store). For tests, benchmarks
  // and throw-away nodes only.
  kNormal,
};

// Named points inside CommitBlock where a test can inject a failure (fault injection through
// a hook, as leveldb's fault_injection_test does through its Env).
enum class CommitPoint {
  kAfterBlockRow,            // the block row is written, no transactions yet
  kAfterTransactionRow,      // after each transaction index row
  kAfterStateWrite,          // after each state write
  kBeforeTransactionCommit,  // everything is written; COMMIT is next
};

struct StoreOptions {
  // A read-only store never creates or migrates the schema (for `vigil audit` and readers).
  bool read_only = false;
  bool create_if_missing = true;
  Synchronous synchronous = Synchronous::kFull;
  std::chrono::milliseconds busy_timeout = limits::kStoreBusyTimeoutDefault;
  // Tests only: called at each CommitPoint; an error return aborts the commit with that error.
  std::function<Status(CommitPoint)> fault_hook;
};

// A state write: set `key` to `value`, or delete `key` when `value` is empty (nullopt).
struct StateWrite {
  Bytes key;
  std::optional<Bytes> value;
};

// One transaction of a block, in block order: its position in the block is its index in
// `BlockCommit::transactions` (the leaf index of its Merkle inclusion proof).
struct TransactionEntry {
  Bytes id;      // SHA-256 of the encoded transaction, kStoreHashBytes
  Bytes result;  // the encoded result of executing it
};

// Everything that is committed together for one height.
struct BlockCommit {
  uint64_t height = 0;        // must be LastHeight() + 1; the first block has height 1
  Bytes block_hash;           // kStoreHashBytes
  Bytes previous_block_hash;  // must equal the stored hash at height - 1 (ignored at height 1)
  Bytes block;                // the encoded block
  Bytes commit_certificate;   // the encoded certificate that finalized this block
  std::vector<TransactionEntry> transactions;
  std::vector<StateWrite> state_writes;  // applied in order; a later write to a key wins
  Bytes state_hash;                      // the state hash after this block, kStoreHashBytes
  // When set, replaces the consensus state in the same transaction, which saves the separate
  // sync a SaveConsensusState call would cost on the commit path.
  std::optional<Bytes> consensus_state;
};

struct StoredBlock {
  uint64_t height = 0;
  Bytes block_hash;
  Bytes block;
  Bytes commit_certificate;
  Bytes state_hash;
  uint64_t transaction_count = 0;
};

struct TransactionLocation {
  uint64_t height = 0;
  uint64_t index = 0;  // position in the block
  Bytes result;
};

struct StateEntry {
  Bytes key;
  Bytes value;
  uint64_t height = 0;  // the height of the block that last wrote this key
  friend bool operator==(const StateEntry&, const StateEntry&) = default;
};

class BlockStore {
 public:
  // Opens (creating if allowed) the store at `path`, sets WAL mode, the sync level, foreign
  // keys and the busy timeout, and creates or migrates the schema. Refuses a file that is not
  // a SQLite database or not a Vigil store (kCorruption / kRefused) and a schema newer than
  // this build (kRefused, asking for a newer vigil). A read-write open takes an exclusive
  // lock on `path` + ".lock" for the store's lifetime: a second writer (a second peer started
  // on the same data directory, which could sign conflicting votes) fails with kUnavailable.
  static Expected<std::unique_ptr<BlockStore>> Open(const std::filesystem::path& path,
                                                    StoreOptions options);
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;
  ~BlockStore();

  // --- Writes (each one SQLite transaction, durable on return with Synchronous::kFull). ---
  Status CommitBlock(const BlockCommit& commit);
  // The consensus engine's DurableState (one record, replaced each time). The caller sends the
  // messages this state signed only after this returns.
  Status SaveConsensusState(ByteSpan state);
  // Free-form named values of the peer (chain id, genesis hash), e.g. to refuse to start a
  // peer on another chain's store.
  Status SetMetadata(std::string_view name, ByteSpan value);

  // --- Reads. ---
  // 0 when no block is stored yet.
  Expected<uint64_t> LastHeight();
  // kNotFound when no block has that height.
  Expected<StoredBlock> GetBlock(uint64_t height);
  Expected<Bytes> GetBlockHash(uint64_t height);
  // Up to `limit` consecutive blocks starting at `height` (fewer at the chain's end), for
  // catching up a peer and serving a subscription from a height. limit <= kStoreBlocksPerReadMax.
  Expected<std::vector<StoredBlock>> BlocksFrom(uint64_t height, size_t limit);
  // kNotFound when no committed transaction has that id.
  Expected<TransactionLocation> FindTransaction(ByteSpan transaction_id);
  // All transaction index entries of one block, in block order.
  Expected<std::vector<TransactionEntry>> TransactionsOfBlock(uint64_t height);
  // The ids of every committed transaction whose stored result is not `result` (the ledger
  // passes its encoded success to find the refused ones). Reads the whole index: O(transactions
  // committed), for start-up.
  Expected<std::vector<Bytes>> TransactionIdsWithResultOtherThan(ByteSpan result);
  Expected<std::optional<Bytes>> GetState(ByteSpan key);
  // Entries whose key starts with `prefix`, ordered by key bytes, starting after `after` when it
  // is not empty (for paging), at most `limit` of them (<= kStoreScanEntriesMax).
  Expected<std::vector<StateEntry>> ScanState(ByteSpan prefix, size_t limit, ByteSpan after = {});
  Expected<std::optional<Bytes>> LoadConsensusState();
  Expected<std::optional<Bytes>> GetMetadata(std::string_view name);

  // PRAGMA integrity_check over the whole file (O(size); for `vigil audit`, not for startup).
  Status CheckIntegrity();
  // Copies the WAL into the database file and truncates the WAL (e.g. before a backup).
  Status Checkpoint();

  const std::filesystem::path& path() const { return database_->path(); }

 private:
  struct Statements;
  BlockStore(std::unique_ptr<SqliteDatabase> database, StoreOptions options, int lock_fd);
  Status PrepareStatements();
  Status CheckCommit(const BlockCommit& commit);
  Status WriteCommit(const BlockCommit& commit);
  Status WriteConsensusState(ByteSpan state);
  Status InjectFault(CommitPoint point);
  Expected<StoredBlock> ReadBlockRow(SqliteStatement& statement);

  // The writer's lock file descriptor (flock), or -1 for a read-only store; closed last.
  int lock_fd_ = -1;
  // Declared before the statements so that it is destroyed after them.
  std::unique_ptr<SqliteDatabase> database_;
  StoreOptions options_;
  std::unique_ptr<Statements> statements_;
};

}  // namespace vigil::store
