#include "store/block_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <string>

#include "common/assert.h"

namespace vigil::store {
namespace {

using limits::kStoreHashBytes;

// Schema version 1 (docs/storage.md#schema). Each later version adds one entry to
// kMigrations; an existing entry never changes once released.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  version INTEGER NOT NULL
);
CREATE TABLE blocks (
  height INTEGER PRIMARY KEY CHECK (height >= 1),
  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
  block BLOB NOT NULL,
  commit_certificate BLOB NOT NULL,
  state_hash BLOB NOT NULL CHECK (length(state_hash) = 32),
  transaction_count INTEGER NOT NULL CHECK (transaction_count >= 0)
);
CREATE TABLE transactions (
  id BLOB PRIMARY KEY CHECK (length(id) = 32),
  height INTEGER NOT NULL REFERENCES blocks (height),
  position INTEGER NOT NULL CHECK (position >= 0),
  result BLOB NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX transactions_by_block ON transactions (height, position);
CREATE TABLE state (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  height INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE consensus_state (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  record BLOB NOT NULL
);
CREATE TABLE metadata (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
)sql";

struct Migration {
  int64_t to_version;
  std::string_view sql;
};
// Migration i brings a store from version i to version i + 1; version 0 is an empty file.
constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
};
static_assert(std::size(kMigrations) == kSchemaVersion,
              "every schema version needs exactly one migration");

Status CheckSize(std::string_view what, size_t size, size_t size_max) {
  if (size > size_max) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is " + std::to_string(size) +
                                                 " bytes, more than the limit of " +
                                                 std::to_string(size_max));
  }
  return Ok();
}

Status CheckHash(std::string_view what, ByteSpan hash) {
  if (hash.size() != kStoreHashBytes) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is " +
                                                 std::to_string(hash.size()) + " bytes, expected " +
                                                 std::to_string(kStoreHashBytes));
  }
  return Ok();
}

// Heights are u64 in Vigil and signed 64-bit integers in SQLite; the store never holds one
// above INT64_MAX (CommitBlock refuses it), so a larger one is simply not found.
bool FitsInInt64(uint64_t value) {
  return value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

// Binds `height` as parameter 1 of a per-height SELECT and steps to its row; kNotFound when
// the store has no block there.
Status StepToBlockRow(SqliteStatement& select, uint64_t height) {
  if (!FitsInInt64(height)) return Fail(ErrorCode::kNotFound, "no block at that height");
  VIGIL_RETURN_IF_ERROR(select.BindInt64(1, static_cast<int64_t>(height)));
  VIGIL_ASSIGN_OR_RETURN(bool has_block, select.Step());
  if (!has_block) {
    return Fail(ErrorCode::kNotFound, "no block at height " + std::to_string(height));
  }
  return Ok();
}

// The smallest byte string greater than every string that starts with `prefix`, or nullopt
// when there is none (an empty prefix or one made only of 0xff bytes).
std::optional<Bytes> PrefixSuccessor(ByteSpan prefix) {
  Bytes successor(prefix.begin(), prefix.end());
  while (!successor.empty() && successor.back() == 0xff) successor.pop_back();
  if (successor.empty()) return std::nullopt;
  ++successor.back();
  return successor;
}

}  // namespace

struct BlockStore::Statements {
  std::unique_ptr<SqliteStatement> select_last_block;
  std::unique_ptr<SqliteStatement> insert_block;
  std::unique_ptr<SqliteStatement> insert_transaction;
  std::unique_ptr<SqliteStatement> upsert_state;
  std::unique_ptr<SqliteStatement> delete_state;
  std::unique_ptr<SqliteStatement> upsert_consensus_state;
  std::unique_ptr<SqliteStatement> upsert_metadata;
  std::unique_ptr<SqliteStatement> select_block;
  std::unique_ptr<SqliteStatement> select_block_hash;
  std::unique_ptr<SqliteStatement> select_blocks_from;
  std::unique_ptr<SqliteStatement> select_transaction;
  std::unique_ptr<SqliteStatement> select_transactions_of_block;
  std::unique_ptr<SqliteStatement> select_state;
  std::unique_ptr<SqliteStatement> scan_state_bounded;
  std::unique_ptr<SqliteStatement> scan_state_unbounded;
  std::unique_ptr<SqliteStatement> select_consensus_state;
  std::unique_ptr<SqliteStatement> select_metadata;
};

namespace {

constexpr std::string_view kSelectBlockColumns =
    "SELECT height, hash, block, commit_certificate, state_hash, transaction_count FROM blocks ";

// Sets the connection up and brings the schema to kSchemaVersion. Runs in one write
// transaction, so two processes opening a new file at once do not both create the schema.
Status PrepareSchema(SqliteDatabase& database, const StoreOptions& options) {
  const std::string path = database.path().string();
  std::optional<SqliteTransaction> transaction;
  if (!options.read_only) {
    VIGIL_ASSIGN_OR_RETURN(auto begun, SqliteTransaction::Begin(database));
    transaction.emplace(std::move(begun));
  }
  VIGIL_ASSIGN_OR_RETURN(int64_t application_id, database.QueryInt64("PRAGMA application_id"));
  VIGIL_ASSIGN_OR_RETURN(int64_t object_count,
                         database.QueryInt64("SELECT count(*) FROM sqlite_schema"));
  int64_t version = 0;
  if (application_id == 0 && object_count == 0) {
    if (options.read_only) {
      return Fail(ErrorCode::kNotFound,
                  path + " is an empty file, not a Vigil store; check the --data directory");
    }
  } else if (application_id != kApplicationId) {
    return Fail(ErrorCode::kRefused,
                path + " is a SQLite database of another program (application_id " +
                    std::to_string(application_id) + "), not a Vigil store; refusing to touch it");
  } else {
    auto stored = database.QueryInt64("SELECT version FROM schema_version WHERE id = 0");
    if (!stored) {
      return std::unexpected(
          Error(ErrorCode::kCorruption, path +
                                            " is a Vigil store without a readable schema "
                                            "version: " +
                                            stored.error().message()));
    }
    version = *stored;
  }
  if (version > kSchemaVersion) {
    return Fail(ErrorCode::kRefused,
                path + " has store schema version " + std::to_string(version) +
                    ", newer than the version " + std::to_string(kSchemaVersion) +
                    " this vigil understands; it was written by a newer vigil, so run that "
                    "version (or newer) on it");
  }
  if (version < kSchemaVersion && options.read_only) {
    return Fail(ErrorCode::kRefused,
                path + " has store schema version " + std::to_string(version) +
                    "; open it once read-write (start the peer) to migrate it to version " +
                    std::to_string(kSchemaVersion));
  }
  if (!transaction || version == kSchemaVersion) return Ok();  // the transaction rolls back
  for (const Migration& migration : kMigrations) {
    if (migration.to_version <= version) continue;
    VIGIL_RETURN_IF_ERROR(database.Execute(migration.sql));
    version = migration.to_version;
  }
  VIGIL_RETURN_IF_ERROR(
      database.Execute("PRAGMA application_id = " + std::to_string(kApplicationId)));
  VIGIL_RETURN_IF_ERROR(database.Execute(
      "INSERT INTO schema_version (id, version) VALUES (0, " + std::to_string(version) +
      ") ON CONFLICT (id) DO UPDATE SET version = excluded.version"));
  return transaction->Commit();
}

Status ConfigureConnection(SqliteDatabase& database, const StoreOptions& options) {
  VIGIL_RETURN_IF_ERROR(
      database.Execute("PRAGMA busy_timeout = " + std::to_string(options.busy_timeout.count())));
  if (!options.read_only) {
    // WAL: readers never block the writer and a commit is one sequential append (plus one
    // fsync with synchronous=FULL) instead of a rollback journal's several.
    VIGIL_ASSIGN_OR_RETURN(std::string mode, database.QueryText("PRAGMA journal_mode = WAL"));
    if (mode != "wal") {
      return Fail(ErrorCode::kIOError, database.path().string() +
                                           ": cannot switch to WAL journal mode (SQLite stays "
                                           "in '" +
                                           mode +
                                           "'); is the file system a network "
                                           "file system without shared memory?");
    }
  }
  VIGIL_RETURN_IF_ERROR(database.Execute(options.synchronous == Synchronous::kFull
                                             ? "PRAGMA synchronous = FULL"
                                             : "PRAGMA synchronous = NORMAL"));
  VIGIL_RETURN_IF_ERROR(database.Execute("PRAGMA cache_size = -" +
                                         std::to_string(limits::kStorePageCacheBytes / 1024)));
  if (!options.read_only) {
    VIGIL_RETURN_IF_ERROR(database.Execute("PRAGMA wal_autocheckpoint = " +
                                           std::to_string(limits::kStoreWalCheckpointPages)));
  }
  return database.Execute("PRAGMA foreign_keys = ON");
}

// Takes the single-writer lock: an flock on a side file, released by the kernel when the
// process dies, so a crashed peer never leaves a stale lock behind.
Expected<int> LockForWriting(const std::filesystem::path& path) {
  const std::string lock_path = path.string() + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kIOError,
                "cannot open the lock file " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Fail(ErrorCode::kUnavailable,
                  path.string() +
                      " is already open for writing by another process or store "
                      "(is a peer already running on this data directory?); stop it "
                      "first, or open the store read-only");
    }
    return Fail(ErrorCode::kIOError, "cannot lock " + lock_path + ": " + std::strerror(error));
  }
  return fd;
}

}  // namespace

Expected<std::unique_ptr<BlockStore>> BlockStore::Open(const std::filesystem::path& path,
                                                       StoreOptions options) {
  auto open = [&]() -> Expected<std::unique_ptr<BlockStore>> {
    SqliteOpenOptions open_options{.read_only = options.read_only,
                                   .create_if_missing = options.create_if_missing};
    int lock_fd = -1;
    if (!options.read_only && (options.create_if_missing || std::filesystem::exists(path))) {
      VIGIL_ASSIGN_OR_RETURN(lock_fd, LockForWriting(path));
    }
    auto database = SqliteDatabase::Open(path, open_options);
    if (!database) {
      if (lock_fd >= 0) ::close(lock_fd);
      return std::unexpected(database.error());
    }
    // From here the store owns the lock and releases it on every path.
    std::unique_ptr<BlockStore> store(
        new BlockStore(std::move(*database), std::move(options), lock_fd));
    VIGIL_RETURN_IF_ERROR(ConfigureConnection(*store->database_, store->options_));
    VIGIL_RETURN_IF_ERROR(PrepareSchema(*store->database_, store->options_));
    VIGIL_RETURN_IF_ERROR(store->PrepareStatements());
    return store;
  };
  auto store = open();
  if (!store) return std::unexpected(store.error().WithContext("opening the ledger store"));
  return store;
}

BlockStore::BlockStore(std::unique_ptr<SqliteDatabase> database, StoreOptions options, int lock_fd)
    : lock_fd_(lock_fd),
      database_(std::move(database)),
      options_(std::move(options)),
      statements_(std::make_unique<Statements>()) {}

BlockStore::~BlockStore() {
  // Statements, then the connection, then the lock: the next writer must not get in while
  // this connection can still write.
  statements_.reset();
  database_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status BlockStore::PrepareStatements() {
  Statements& s = *statements_;
  struct Entry {
    std::unique_ptr<SqliteStatement>* statement;
    std::string sql;
  };
  const std::string columns(kSelectBlockColumns);
  const Entry entries[] = {
      {&s.select_last_block, "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1"},
      {&s.insert_block,
       "INSERT INTO blocks (height, hash, block, commit_certificate, state_hash, "
       "transaction_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&s.insert_transaction,
       "INSERT INTO transactions (id, height, position, result) VALUES (?1, ?2, ?3, ?4)"},
      {&s.upsert_state,
       "INSERT INTO state (key, value, height) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE "
       "SET value = excluded.value, height = excluded.height"},
      {&s.delete_state, "DELETE FROM state WHERE key = ?1"},
      {&s.upsert_consensus_state,
       "INSERT INTO consensus_state (id, record) VALUES (0, ?1) ON CONFLICT (id) DO UPDATE SET "
       "record = excluded.record"},
      {&s.upsert_metadata,
       "INSERT INTO metadata (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET "
       "value = excluded.value"},
      {&s.select_block, columns + "WHERE height = ?1"},
      {&s.select_block_hash, "SELECT hash FROM blocks WHERE height = ?1"},
      {&s.select_blocks_from, columns + "WHERE height >= ?1 ORDER BY height LIMIT ?2"},
      {&s.select_transaction, "SELECT height, position, result FROM transactions WHERE id = ?1"},
      {&s.select_transactions_of_block,
       "SELECT id, result FROM transactions WHERE height = ?1 ORDER BY position"},
      {&s.select_state, "SELECT value FROM state WHERE key = ?1"},
      {&s.scan_state_bounded,
       "SELECT key, value, height FROM state WHERE key >= ?1 AND key < ?2 ORDER BY key "
       "LIMIT ?3"},
      {&s.scan_state_unbounded,
       "SELECT key, value, height FROM state WHERE key >= ?1 ORDER BY key LIMIT ?3"},
      {&s.select_consensus_state, "SELECT record FROM consensus_state WHERE id = 0"},
      {&s.select_metadata, "SELECT value FROM metadata WHERE name = ?1"},
  };
  for (const Entry& entry : entries) {
    VIGIL_ASSIGN_OR_RETURN(*entry.statement, database_->Prepare(entry.sql));
  }
  return Ok();
}

Status BlockStore::InjectFault(CommitPoint point) {
  if (!options_.fault_hook) return Ok();
  return options_.fault_hook(point);
}

// --- Writes ---

Status BlockStore::CheckCommit(const BlockCommit& commit) {
  if (options_.read_only) {
    return Fail(ErrorCode::kPermissionDenied, "the store was opened read-only");
  }
  if (commit.height == 0 || !FitsInInt64(commit.height)) {
    return Fail(ErrorCode::kInvalidArgument,
                "block height " + std::to_string(commit.height) + " is out of range");
  }
  VIGIL_RETURN_IF_ERROR(CheckHash("block hash", commit.block_hash));
  if (commit.height > 1)
    VIGIL_RETURN_IF_ERROR(CheckHash("previous block hash", commit.previous_block_hash));
  VIGIL_RETURN_IF_ERROR(CheckHash("state hash", commit.state_hash));
  VIGIL_RETURN_IF_ERROR(CheckSize("block", commit.block.size(), limits::kStoreBlockBytesMax));
  VIGIL_RETURN_IF_ERROR(CheckSize("commit certificate", commit.commit_certificate.size(),
                                  limits::kStoreCommitCertificateBytesMax));
  if (commit.transactions.size() > limits::kStoreTransactionsPerBlockMax ||
      commit.state_writes.size() > limits::kStoreStateWritesPerBlockMax) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(commit.transactions.size()) +
                                                 " transactions and " +
                                                 std::to_string(commit.state_writes.size()) +
                                                 " state writes exceed the per-block limits");
  }
  for (size_t index = 0; index < commit.transactions.size(); ++index) {
    const TransactionEntry& entry = commit.transactions[index];
    auto checked = [&]() -> Status {
      VIGIL_RETURN_IF_ERROR(CheckHash("transaction id", entry.id));
      return CheckSize("result", entry.result.size(), limits::kStoreResultBytesMax);
    }();
    if (!checked) {
      return std::unexpected(checked.error().WithContext("transaction " + std::to_string(index)));
    }
  }
  for (size_t index = 0; index < commit.state_writes.size(); ++index) {
    const StateWrite& write = commit.state_writes[index];
    auto checked = [&]() -> Status {
      VIGIL_RETURN_IF_ERROR(CheckSize("key", write.key.size(), limits::kStoreStateKeyBytesMax));
      return CheckSize("value", write.value ? write.value->size() : 0,
                       limits::kStoreStateValueBytesMax);
    }();
    if (!checked) {
      return std::unexpected(checked.error().WithContext("state write " + std::to_string(index)));
    }
  }
  if (commit.consensus_state) {
    VIGIL_RETURN_IF_ERROR(CheckSize("consensus state", commit.consensus_state->size(),
                                    limits::kStoreConsensusStateBytesMax));
  }
  return Ok();
}

Status BlockStore::WriteCommit(const BlockCommit& commit) {
  Statements& s = *statements_;
  const auto height = static_cast<int64_t>(commit.height);
  {
    // Read inside the write transaction, so no other writer can slip a block in between.
    SqliteStatement::Use use(*s.select_last_block);
    VIGIL_ASSIGN_OR_RETURN(bool has_block, s.select_last_block->Step());
    int64_t last_height = has_block ? s.select_last_block->ColumnInt64(0) : 0;
    if (height != last_height + 1) {
      return Fail(ErrorCode::kInvalidArgument, "block height " + std::to_string(height) +
                                                   " does not follow the last stored "
                                                   "height " +
                                                   std::to_string(last_height) +
                                                   "; the next block must have height " +
                                                   std::to_string(last_height + 1));
    }
    if (has_block) {
      Bytes last_hash = s.select_last_block->ColumnBytes(1);
      if (!std::ranges::equal(last_hash, commit.previous_block_hash)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "block at height " + std::to_string(height) + " names previous block " +
                        ToHex(commit.previous_block_hash) + " but the stored block at height " +
                        std::to_string(last_height) + " is " + ToHex(last_hash));
      }
    }
  }
  {
    SqliteStatement& insert = *s.insert_block;
    SqliteStatement::Use use(insert);
    VIGIL_RETURN_IF_ERROR(insert.BindInt64(1, height));
    VIGIL_RETURN_IF_ERROR(insert.BindBlob(2, commit.block_hash));
    VIGIL_RETURN_IF_ERROR(insert.BindBlob(3, commit.block));
    VIGIL_RETURN_IF_ERROR(insert.BindBlob(4, commit.commit_certificate));
    VIGIL_RETURN_IF_ERROR(insert.BindBlob(5, commit.state_hash));
    VIGIL_RETURN_IF_ERROR(insert.BindInt64(6, static_cast<int64_t>(commit.transactions.size())));
    VIGIL_RETURN_IF_ERROR(insert.Run());
  }
  VIGIL_RETURN_IF_ERROR(InjectFault(CommitPoint::kAfterBlockRow));
  SqliteStatement& insert_transaction = *s.insert_transaction;
  for (size_t index = 0; index < commit.transactions.size(); ++index) {
    const TransactionEntry& entry = commit.transactions[index];
    auto written = [&]() -> Status {
      SqliteStatement::Use use(insert_transaction);
      VIGIL_RETURN_IF_ERROR(insert_transaction.BindBlob(1, entry.id));
      VIGIL_RETURN_IF_ERROR(insert_transaction.BindInt64(2, height));
      VIGIL_RETURN_IF_ERROR(insert_transaction.BindInt64(3, static_cast<int64_t>(index)));
      VIGIL_RETURN_IF_ERROR(insert_transaction.BindBlob(4, entry.result));
      VIGIL_RETURN_IF_ERROR(insert_transaction.Run());
      return InjectFault(CommitPoint::kAfterTransactionRow);
    }();
    if (!written) {
      return std::unexpected(written.error().WithContext("transaction " + std::to_string(index) +
                                                         " (id " + ToHex(entry.id) + ")"));
    }
  }
  for (size_t index = 0; index < commit.state_writes.size(); ++index) {
    const StateWrite& write = commit.state_writes[index];
    auto written = [&]() -> Status {
      if (write.value) {
        SqliteStatement& upsert = *s.upsert_state;
        SqliteStatement::Use use(upsert);
        VIGIL_RETURN_IF_ERROR(upsert.BindBlob(1, write.key));
        VIGIL_RETURN_IF_ERROR(upsert.BindBlob(2, *write.value));
        VIGIL_RETURN_IF_ERROR(upsert.BindInt64(3, height));
        VIGIL_RETURN_IF_ERROR(upsert.Run());
      } else {
        SqliteStatement& erase = *s.delete_state;
        SqliteStatement::Use use(erase);
        VIGIL_RETURN_IF_ERROR(erase.BindBlob(1, write.key));
        VIGIL_RETURN_IF_ERROR(erase.Run());
      }
      return InjectFault(CommitPoint::kAfterStateWrite);
    }();
    if (!written) {
      return std::unexpected(written.error().WithContext("state write " + std::to_string(index) +
                                                         " (key " + ToHex(write.key) + ")"));
    }
  }
  if (commit.consensus_state) VIGIL_RETURN_IF_ERROR(WriteConsensusState(*commit.consensus_state));
  return InjectFault(CommitPoint::kBeforeTransactionCommit);
}

Status BlockStore::CommitBlock(const BlockCommit& commit) {
  auto committed = [&]() -> Status {
    VIGIL_RETURN_IF_ERROR(CheckCommit(commit));
    VIGIL_ASSIGN_OR_RETURN(auto transaction, SqliteTransaction::Begin(*database_));
    VIGIL_RETURN_IF_ERROR(WriteCommit(commit));
    return transaction.Commit();
  }();
  if (!committed) {
    return std::unexpected(committed.error().WithContext(
        "committing block " + std::to_string(commit.height) + " to " + path().string()));
  }
  return Ok();
}

Status BlockStore::WriteConsensusState(ByteSpan state) {
  SqliteStatement& upsert = *statements_->upsert_consensus_state;
  SqliteStatement::Use use(upsert);
  VIGIL_RETURN_IF_ERROR(upsert.BindBlob(1, state));
  return upsert.Run();
}

Status BlockStore::SaveConsensusState(ByteSpan state) {
  auto saved = [&]() -> Status {
    if (options_.read_only) {
      return Fail(ErrorCode::kPermissionDenied, "the store was opened read-only");
    }
    VIGIL_RETURN_IF_ERROR(
        CheckSize("consensus state", state.size(), limits::kStoreConsensusStateBytesMax));
    // One statement in autocommit mode is its own transaction, synced before it returns.
    return WriteConsensusState(state);
  }();
  if (!saved) return std::unexpected(saved.error().WithContext("saving the consensus state"));
  return Ok();
}

Status BlockStore::SetMetadata(std::string_view name, ByteSpan value) {
  if (options_.read_only) {
    return Fail(ErrorCode::kPermissionDenied, "the store was opened read-only");
  }
  VIGIL_RETURN_IF_ERROR(
      CheckSize("metadata name", name.size(), limits::kStoreMetadataNameBytesMax));
  VIGIL_RETURN_IF_ERROR(
      CheckSize("metadata value", value.size(), limits::kStoreMetadataValueBytesMax));
  SqliteStatement& upsert = *statements_->upsert_metadata;
  SqliteStatement::Use use(upsert);
  VIGIL_RETURN_IF_ERROR(upsert.BindText(1, name));
  VIGIL_RETURN_IF_ERROR(upsert.BindBlob(2, value));
  return upsert.Run();
}

// --- Reads ---

Expected<uint64_t> BlockStore::LastHeight() {
  SqliteStatement& select = *statements_->select_last_block;
  SqliteStatement::Use use(select);
  VIGIL_ASSIGN_OR_RETURN(bool has_block, select.Step());
  if (!has_block) return 0;
  return static_cast<uint64_t>(select.ColumnInt64(0));
}

Expected<StoredBlock> BlockStore::ReadBlockRow(SqliteStatement& statement) {
  StoredBlock block;
  int64_t height = statement.ColumnInt64(0);
  int64_t transaction_count = statement.ColumnInt64(5);
  block.block_hash = statement.ColumnBytes(1);
  block.block = statement.ColumnBytes(2);
  block.commit_certificate = statement.ColumnBytes(3);
  block.state_hash = statement.ColumnBytes(4);
  // The schema's CHECK constraints make these hold for anything this code wrote; a row that
  // breaks them was written by something else or damaged on disk.
  if (height < 1 || transaction_count < 0 || block.block_hash.size() != kStoreHashBytes ||
      block.state_hash.size() != kStoreHashBytes) {
    return Fail(ErrorCode::kCorruption, path().string() + ": the block row at height " +
                                            std::to_string(height) + " is malformed");
  }
  block.height = static_cast<uint64_t>(height);
  block.transaction_count = static_cast<uint64_t>(transaction_count);
  return block;
}

Expected<StoredBlock> BlockStore::GetBlock(uint64_t height) {
  SqliteStatement& select = *statements_->select_block;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(StepToBlockRow(select, height));
  return ReadBlockRow(select);
}

Expected<Bytes> BlockStore::GetBlockHash(uint64_t height) {
  SqliteStatement& select = *statements_->select_block_hash;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(StepToBlockRow(select, height));
  return select.ColumnBytes(0);
}

Expected<std::vector<StoredBlock>> BlockStore::BlocksFrom(uint64_t height, size_t limit) {
  if (limit > limits::kStoreBlocksPerReadMax) {
    return Fail(ErrorCode::kInvalidArgument, "asked for " + std::to_string(limit) +
                                                 " blocks at once; the limit is " +
                                                 std::to_string(limits::kStoreBlocksPerReadMax));
  }
  std::vector<StoredBlock> blocks;
  if (!FitsInInt64(height) || limit == 0) return blocks;
  SqliteStatement& select = *statements_->select_blocks_from;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindInt64(1, static_cast<int64_t>(height)));
  VIGIL_RETURN_IF_ERROR(select.BindInt64(2, static_cast<int64_t>(limit)));
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool has_block, select.Step());
    if (!has_block) break;
    VIGIL_ASSIGN_OR_RETURN(StoredBlock block, ReadBlockRow(select));
    // Heights are contiguous; a gap means rows were lost.
    if (block.height != height + blocks.size()) {
      return Fail(ErrorCode::kCorruption, path().string() + ": expected the block at height " +
                                              std::to_string(height + blocks.size()) +
                                              ", found height " + std::to_string(block.height));
    }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

Expected<TransactionLocation> BlockStore::FindTransaction(ByteSpan transaction_id) {
  SqliteStatement& select = *statements_->select_transaction;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindBlob(1, transaction_id));
  VIGIL_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) {
    return Fail(ErrorCode::kNotFound, "no committed transaction has id " + ToHex(transaction_id));
  }
  int64_t height = select.ColumnInt64(0);
  int64_t index = select.ColumnInt64(1);
  if (height < 1 || index < 0) {
    return Fail(ErrorCode::kCorruption, path().string() + ": the index entry of transaction " +
                                            ToHex(transaction_id) + " is malformed");
  }
  return TransactionLocation{.height = static_cast<uint64_t>(height),
                             .index = static_cast<uint64_t>(index),
                             .result = select.ColumnBytes(2)};
}

Expected<std::vector<TransactionEntry>> BlockStore::TransactionsOfBlock(uint64_t height) {
  std::vector<TransactionEntry> entries;
  if (!FitsInInt64(height)) return entries;
  SqliteStatement& select = *statements_->select_transactions_of_block;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindInt64(1, static_cast<int64_t>(height)));
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    entries.push_back({.id = select.ColumnBytes(0), .result = select.ColumnBytes(1)});
  }
  return entries;
}

Expected<std::vector<Bytes>> BlockStore::TransactionIdsWithResultOtherThan(ByteSpan result) {
  VIGIL_ASSIGN_OR_RETURN(auto select,
                         database_->Prepare("SELECT id FROM transactions WHERE result != ?1"));
  VIGIL_RETURN_IF_ERROR(select->BindBlob(1, result));
  std::vector<Bytes> ids;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool has_row, select->Step());
    if (!has_row) break;
    ids.push_back(select->ColumnBytes(0));
  }
  return ids;
}

Expected<std::optional<Bytes>> BlockStore::GetState(ByteSpan key) {
  SqliteStatement& select = *statements_->select_state;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindBlob(1, key));
  VIGIL_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(select.ColumnBytes(0));
}

Expected<std::vector<StateEntry>> BlockStore::ScanState(ByteSpan prefix, size_t limit,
                                                        ByteSpan after) {
  if (limit > limits::kStoreScanEntriesMax) {
    return Fail(ErrorCode::kInvalidArgument, "asked for " + std::to_string(limit) +
                                                 " state entries at once; the limit is " +
                                                 std::to_string(limits::kStoreScanEntriesMax));
  }
  std::vector<StateEntry> entries;
  if (limit == 0) return entries;
  // Keys greater than `after` are exactly the keys >= after || 0x00, so one inclusive lower
  // bound serves both the prefix and the paging cursor.
  Bytes lower(prefix.begin(), prefix.end());
  if (!after.empty()) {
    Bytes after_successor(after.begin(), after.end());
    after_successor.push_back(0);
    lower = std::max(lower, after_successor);
  }
  std::optional<Bytes> upper = PrefixSuccessor(prefix);
  SqliteStatement& select =
      upper ? *statements_->scan_state_bounded : *statements_->scan_state_unbounded;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindBlob(1, lower));
  if (upper) VIGIL_RETURN_IF_ERROR(select.BindBlob(2, *upper));
  VIGIL_RETURN_IF_ERROR(select.BindInt64(3, static_cast<int64_t>(limit)));
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    entries.push_back({.key = select.ColumnBytes(0),
                       .value = select.ColumnBytes(1),
                       .height = static_cast<uint64_t>(select.ColumnInt64(2))});
  }
  return entries;
}

Expected<std::optional<Bytes>> BlockStore::LoadConsensusState() {
  SqliteStatement& select = *statements_->select_consensus_state;
  SqliteStatement::Use use(select);
  VIGIL_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(select.ColumnBytes(0));
}

Expected<std::optional<Bytes>> BlockStore::GetMetadata(std::string_view name) {
  SqliteStatement& select = *statements_->select_metadata;
  SqliteStatement::Use use(select);
  VIGIL_RETURN_IF_ERROR(select.BindText(1, name));
  VIGIL_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(select.ColumnBytes(0));
}

// --- Maintenance ---

Status BlockStore::CheckIntegrity() {
  const std::string where = path().string() + ": ";
  // SQLite's own check of every page, index and constraint.
  VIGIL_ASSIGN_OR_RETURN(std::string integrity, database_->QueryText("PRAGMA integrity_check"));
  if (integrity != "ok") {
    return Fail(ErrorCode::kCorruption, where + "integrity check failed: " + integrity);
  }
  VIGIL_ASSIGN_OR_RETURN(auto foreign_keys, database_->Prepare("PRAGMA foreign_key_check"));
  SqliteStatement::Use use(*foreign_keys);
  VIGIL_ASSIGN_OR_RETURN(bool has_violation, foreign_keys->Step());
  if (has_violation) {
    return Fail(ErrorCode::kCorruption, where + "a transaction index entry names a missing block");
  }
  // The store's own invariants: heights 1..n without gaps, and every block's transactions
  // indexed at positions 0..count-1.
  VIGIL_ASSIGN_OR_RETURN(int64_t block_count, database_->QueryInt64("SELECT count(*) FROM blocks"));
  VIGIL_ASSIGN_OR_RETURN(int64_t last_height,
                         database_->QueryInt64("SELECT coalesce(max(height), 0) FROM blocks"));
  if (block_count != last_height) {
    return Fail(ErrorCode::kCorruption, where + std::to_string(block_count) +
                                            " blocks stored but the last height is " +
                                            std::to_string(last_height));
  }
  VIGIL_ASSIGN_OR_RETURN(
      int64_t mismatched,
      database_->QueryInt64(
          "SELECT count(*) FROM blocks AS b WHERE b.transaction_count != "
          "(SELECT count(*) FROM transactions AS t WHERE t.height = b.height) OR "
          "(b.transaction_count > 0 AND b.transaction_count - 1 != "
          "(SELECT max(position) FROM transactions AS t WHERE t.height = b.height))"));
  if (mismatched != 0) {
    return Fail(ErrorCode::kCorruption,
                where + std::to_string(mismatched) +
                    " blocks whose transaction index does not match their transaction count");
  }
  return Ok();
}

Status BlockStore::Checkpoint() {
  VIGIL_ASSIGN_OR_RETURN(int64_t busy, database_->QueryInt64("PRAGMA wal_checkpoint(TRUNCATE)"));
  if (busy != 0) {
    return Fail(ErrorCode::kUnavailable,
                path().string() + ": a reader kept the checkpoint from completing; retry later");
  }
  return Ok();
}

}  // namespace vigil::store
