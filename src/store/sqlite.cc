#include "store/sqlite.h"

#include <sqlite3.h>

#include <climits>
#include <cstring>
#include <utility>

#include "common/assert.h"

namespace vigil::store {

ErrorCode ErrorCodeFromSqlite(int result) {
  switch (result & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return ErrorCode::kCorruption;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      return ErrorCode::kResourceExhausted;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return ErrorCode::kIOError;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return ErrorCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return ErrorCode::kInvalidArgument;
    case SQLITE_NOTFOUND:
      return ErrorCode::kNotFound;
    default:
      return ErrorCode::kInternal;
  }
}

// --- SqliteStatement ---

SqliteStatement::~SqliteStatement() { sqlite3_finalize(statement_); }

Error SqliteStatement::StatementError(int result, std::string_view what) const {
  std::string context(what);
  context += " (";
  const char* sql = sqlite3_sql(statement_);
  context += sql != nullptr ? sql : "?";
  context += ")";
  return database_.MakeError(result, context);
}

Status SqliteStatement::BindInt64(int index, int64_t value) {
  int result = sqlite3_bind_int64(statement_, index, value);
  if (result != SQLITE_OK) return std::unexpected(StatementError(result, "cannot bind integer"));
  return Ok();
}

Status SqliteStatement::BindBlob(int index, ByteSpan value) {
  // A null pointer would bind SQL NULL, not an empty blob; an empty span may carry one.
  int result = value.empty() ? sqlite3_bind_zeroblob(statement_, index, 0)
                             : sqlite3_bind_blob64(statement_, index, value.data(), value.size(),
                                                   SQLITE_STATIC);
  if (result != SQLITE_OK) return std::unexpected(StatementError(result, "cannot bind blob"));
  return Ok();
}

Status SqliteStatement::BindText(int index, std::string_view value) {
  int result = sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_STATIC,
                                   SQLITE_UTF8);
  if (result != SQLITE_OK) return std::unexpected(StatementError(result, "cannot bind text"));
  return Ok();
}

Expected<bool> SqliteStatement::Step() {
  int result = sqlite3_step(statement_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  return std::unexpected(StatementError(result, "statement failed"));
}

Status SqliteStatement::Run() {
  VIGIL_ASSIGN_OR_RETURN(bool has_row, Step());
  if (has_row) {
    return std::unexpected(StatementError(SQLITE_MISUSE, "statement returned a row unexpectedly"));
  }
  return Ok();
}

int64_t SqliteStatement::ColumnInt64(int column) const {
  return sqlite3_column_int64(statement_, column);
}

Bytes SqliteStatement::ColumnBytes(int column) const {
  // sqlite3_column_blob before sqlite3_column_bytes, as SQLite's documentation requires.
  const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(statement_, column));
  int size = sqlite3_column_bytes(statement_, column);
  if (data == nullptr || size <= 0) return {};
  return Bytes(data, data + size);
}

bool SqliteStatement::ColumnIsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

bool SqliteStatement::ColumnIsBlob(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_BLOB;
}

int64_t SqliteStatement::ChangedRows() const {
  return sqlite3_changes64(sqlite3_db_handle(statement_));
}

void SqliteStatement::Reset() {
  // The error of the last step was already reported by Step(); reset repeats it.
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

// --- SqliteDatabase ---

Expected<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::filesystem::path& path,
                                                               const SqliteOpenOptions& options) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create_if_missing) flags |= SQLITE_OPEN_CREATE;
  }
  sqlite3* handle = nullptr;
  int result = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  // Even a failed open allocates a handle (for its error message); the wrapper owns it either
  // way, so it is closed on every path.
  std::unique_ptr<SqliteDatabase> database(new SqliteDatabase(handle, path));
  if (handle == nullptr) {
    return Fail(ErrorCode::kResourceExhausted,
                "cannot allocate a SQLite connection for " + path.string());
  }
  if (result != SQLITE_OK) return std::unexpected(database->MakeError(result, "cannot open"));
  return database;
}

SqliteDatabase::~SqliteDatabase() {
  // close_v2 defers the close until the last statement is finalized, so a statement that
  // outlived its database by mistake does not turn into a use-after-free inside SQLite.
  sqlite3_close_v2(database_);
}

Error SqliteDatabase::MakeError(int result, std::string_view what) const {
  std::string message = "SQLite database ";
  message += path_.string();
  message += ": ";
  message += what;
  message += ": ";
  // The connection's message is only about this result when the codes agree.
  if (database_ != nullptr && sqlite3_extended_errcode(database_) == result) {
    message += sqlite3_errmsg(database_);
  } else {
    message += sqlite3_errstr(result);
  }
  message += " (SQLite code " + std::to_string(result) + ")";
  ErrorCode code = ErrorCodeFromSqlite(result);
  if (code == ErrorCode::kCorruption) {
    message +=
        "; the file is damaged or is not a Vigil store: restore it from a backup or "
        "resynchronize this peer from the others";
  }
  return Error(code, std::move(message));
}

Status SqliteDatabase::Execute(std::string_view sql) {
  std::string text(sql);
  char* error_message = nullptr;
  int result = sqlite3_exec(database_, text.c_str(), nullptr, nullptr, &error_message);
  sqlite3_free(error_message);  // MakeError reads the same text from the connection
  if (result != SQLITE_OK) return std::unexpected(MakeError(result, "cannot execute " + text));
  return Ok();
}

Expected<std::unique_ptr<SqliteStatement>> SqliteDatabase::Prepare(std::string_view sql) {
  VIGIL_ASSERT(sql.size() < INT_MAX);
  sqlite3_stmt* statement = nullptr;
  int result = sqlite3_prepare_v3(database_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (result != SQLITE_OK) {
    sqlite3_finalize(statement);
    return std::unexpected(MakeError(result, "cannot prepare " + std::string(sql)));
  }
  VIGIL_ASSERT(statement != nullptr);  // only empty SQL prepares to nothing
  return std::unique_ptr<SqliteStatement>(new SqliteStatement(*this, statement));
}

Expected<int64_t> SqliteDatabase::QueryInt64(std::string_view sql) {
  VIGIL_ASSIGN_OR_RETURN(auto statement, Prepare(sql));
  SqliteStatement::Use use(*statement);
  VIGIL_ASSIGN_OR_RETURN(bool has_row, statement->Step());
  if (!has_row) return Fail(ErrorCode::kNotFound, "no row from " + std::string(sql));
  return statement->ColumnInt64(0);
}

Expected<std::string> SqliteDatabase::QueryText(std::string_view sql) {
  VIGIL_ASSIGN_OR_RETURN(auto statement, Prepare(sql));
  SqliteStatement::Use use(*statement);
  VIGIL_ASSIGN_OR_RETURN(bool has_row, statement->Step());
  if (!has_row) return Fail(ErrorCode::kNotFound, "no row from " + std::string(sql));
  Bytes bytes = statement->ColumnBytes(0);
  return std::string(bytes.begin(), bytes.end());
}

bool SqliteDatabase::InAutocommit() const { return sqlite3_get_autocommit(database_) != 0; }

// --- SqliteTransaction ---

Expected<SqliteTransaction> SqliteTransaction::Begin(SqliteDatabase& database) {
  VIGIL_ASSERT(database.InAutocommit());  // transactions do not nest in this store
  VIGIL_RETURN_IF_ERROR(database.Execute("BEGIN IMMEDIATE"));
  return SqliteTransaction(database);
}

SqliteTransaction::SqliteTransaction(SqliteTransaction&& other) noexcept
    : database_(std::exchange(other.database_, nullptr)) {}

SqliteTransaction::~SqliteTransaction() {
  // SQLite has already rolled back by itself after some errors (SQLITE_FULL, SQLITE_IOERR
  // during commit); a second ROLLBACK would only fail with "no transaction is active".
  if (database_ != nullptr && !database_->InAutocommit()) {
    sqlite3_exec(database_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status SqliteTransaction::Commit() {
  VIGIL_ASSERT(database_ != nullptr);
  Status committed = database_->Execute("COMMIT");
  if (committed) database_ = nullptr;
  return committed;
}

}  // namespace vigil::store
