// A small RAII wrapper over the SQLite C API, returning errors as values.
//
// Only what the store needs: open a connection, run statements, prepare statements once and
// reuse them, and scope a transaction so that leaving it without Commit() rolls it back. SQLite
// result codes become Vigil ErrorCodes (SQLITE_CORRUPT/NOTADB -> kCorruption, SQLITE_BUSY ->
// kUnavailable, SQLITE_FULL -> kResourceExhausted, SQLITE_IOERR -> kIOError, constraint
// violations -> kInvalidArgument) with SQLite's own message and the database path.
//
// Ownership: a SqliteStatement must not outlive the SqliteDatabase that prepared it (the store
// declares its statements after the database, so they are finalized first).
// Thread-safety: none. Connections are opened in SQLite's multi-thread mode (no connection
// mutex); one thread uses one connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vigil::store {

class SqliteDatabase;

// A prepared statement. Use it through a SqliteStatement::Use, which resets the statement and
// clears its bindings when it goes out of scope: a statement left mid-step keeps its read
// transaction open, which in WAL mode stops checkpoints from ever completing.
class SqliteStatement {
 public:
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  class Use {
   public:
    explicit Use(SqliteStatement& statement) : statement_(statement) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() { statement_.Reset(); }

   private:
    SqliteStatement& statement_;
  };

  // Parameter indexes start at 1, as in SQLite. Blobs are bound without copying
  // (SQLITE_STATIC): the bytes must stay alive until the statement is reset.
  Status BindInt64(int index, int64_t value);
  Status BindBlob(int index, ByteSpan value);
  Status BindText(int index, std::string_view value);

  // Steps once: true when a row is available, false when the statement is done.
  Expected<bool> Step();
  // Steps a statement that returns no rows (INSERT, UPDATE, DELETE) to completion.
  Status Run();

  // Column indexes start at 0. A NULL blob reads as empty.
  int64_t ColumnInt64(int column) const;
  Bytes ColumnBytes(int column) const;
  bool ColumnIsNull(int column) const;
  bool ColumnIsBlob(int column) const;

  // Rows changed by the last completed INSERT, UPDATE or DELETE on this connection.
  int64_t ChangedRows() const;

  void Reset();

 private:
  friend class SqliteDatabase;
  SqliteStatement(SqliteDatabase& database, sqlite3_stmt* statement)
      : database_(database), statement_(statement) {}
  Error StatementError(int result, std::string_view what) const;

  SqliteDatabase& database_;
  sqlite3_stmt* statement_;
};

struct SqliteOpenOptions {
  bool read_only = false;
  bool create_if_missing = true;
};

class SqliteDatabase {
 public:
  static Expected<std::unique_ptr<SqliteDatabase>> Open(const std::filesystem::path& path,
                                                        const SqliteOpenOptions& options);
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;
  ~SqliteDatabase();

  // Runs one or more statements that return no rows the caller needs.
  Status Execute(std::string_view sql);
  // Prepares a statement meant to be kept and reused (SQLITE_PREPARE_PERSISTENT).
  Expected<std::unique_ptr<SqliteStatement>> Prepare(std::string_view sql);
  // Runs a query whose first row's first column is an integer (PRAGMA x, SELECT count(*)).
  Expected<int64_t> QueryInt64(std::string_view sql);
  // Same for a text result (PRAGMA journal_mode).
  Expected<std::string> QueryText(std::string_view sql);

  // True when no transaction is open (SQLite's autocommit mode).
  bool InAutocommit() const;

  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return database_; }

  // Builds an Error from a SQLite result code and this connection's last error message.
  Error MakeError(int result, std::string_view what) const;

 private:
  SqliteDatabase(sqlite3* database, std::filesystem::path path)
      : database_(database), path_(std::move(path)) {}

  sqlite3* database_;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT. Destroyed without a successful Commit(), it rolls back, so every
// early `return` on an error leaves the database as it was. IMMEDIATE takes the write lock at
// the start, so a second writer fails at BEGIN (after the busy timeout), not halfway through.
class SqliteTransaction {
 public:
  static Expected<SqliteTransaction> Begin(SqliteDatabase& database);
  SqliteTransaction(SqliteTransaction&& other) noexcept;
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  ~SqliteTransaction();

  Status Commit();

 private:
  explicit SqliteTransaction(SqliteDatabase& database) : database_(&database) {}
  SqliteDatabase* database_;  // null once committed, rolled back or moved from
};

// Maps a SQLite primary or extended result code to a Vigil ErrorCode.
ErrorCode ErrorCodeFromSqlite(int result);

}  // namespace vigil::store
