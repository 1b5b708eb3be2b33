#include "store/sqlite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "test_chain.h"

namespace vigil::store {
namespace {

using ::testing::HasSubstr;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto database = SqliteDatabase::Open(directory_.path() / "test.sqlite3", {});
    ASSERT_TRUE(database) << database.error().ToString();
    database_ = std::move(*database);
    ASSERT_TRUE(database_->Execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL)"));
  }
  int64_t Count() { return database_->QueryInt64("SELECT count(*) FROM t").value(); }

  testing::TemporaryDirectory directory_;
  std::unique_ptr<SqliteDatabase> database_;
};

TEST_F(SqliteTest, EmptyBlobsAreEmptyNotNull) {
  auto insert = database_->Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)").value();
  SqliteStatement::Use use(*insert);
  ASSERT_TRUE(insert->BindBlob(1, AsBytes("key")));
  ASSERT_TRUE(insert->BindBlob(2, ByteSpan()));  // NOT NULL would refuse a NULL
  ASSERT_TRUE(insert->Run());
  auto select = database_->Prepare("SELECT v FROM t WHERE k = ?1").value();
  SqliteStatement::Use use_select(*select);
  ASSERT_TRUE(select->BindBlob(1, AsBytes("key")));
  ASSERT_TRUE(select->Step().value());
  EXPECT_FALSE(select->ColumnIsNull(0));
  EXPECT_TRUE(select->ColumnBytes(0).empty());
}

TEST_F(SqliteTest, ATransactionLeftWithoutCommitRollsBack) {
  {
    auto transaction = SqliteTransaction::Begin(*database_);
    ASSERT_TRUE(transaction);
    ASSERT_TRUE(database_->Execute("INSERT INTO t VALUES (x'01', x'02')"));
    EXPECT_EQ(Count(), 1);
  }
  EXPECT_TRUE(database_->InAutocommit());
  EXPECT_EQ(Count(), 0);
  auto transaction = SqliteTransaction::Begin(*database_).value();
  ASSERT_TRUE(database_->Execute("INSERT INTO t VALUES (x'01', x'02')"));
  ASSERT_TRUE(transaction.Commit());
  EXPECT_EQ(Count(), 1);
}

TEST_F(SqliteTest, ErrorsCarryTheCodeThePathAndSqlitesMessage) {
  ASSERT_TRUE(database_->Execute("INSERT INTO t VALUES (x'01', x'02')"));
  auto duplicate = database_->Execute("INSERT INTO t VALUES (x'01', x'03')");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(duplicate.error().message(), HasSubstr("UNIQUE constraint failed: t.k"));
  EXPECT_THAT(duplicate.error().message(), HasSubstr("test.sqlite3"));

  auto bad_sql = database_->Prepare("SELEKT 1");
  ASSERT_FALSE(bad_sql);
  EXPECT_THAT(bad_sql.error().message(), HasSubstr("syntax error"));

  auto statement = database_->Prepare("INSERT INTO t VALUES (?1, ?2)").value();
  SqliteStatement::Use use(*statement);
  auto out_of_range = statement->BindInt64(3, 1);
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().code(), ErrorCode::kInvalidArgument);
}

TEST(SqliteErrorCodeTest, MapsSqliteResultCodes) {
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_CORRUPT), ErrorCode::kCorruption);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_NOTADB), ErrorCode::kCorruption);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_BUSY_SNAPSHOT), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_FULL), ErrorCode::kResourceExhausted);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_IOERR_FSYNC), ErrorCode::kIOError);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_READONLY), ErrorCode::kPermissionDenied);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_CONSTRAINT_UNIQUE), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeFromSqlite(SQLITE_MISUSE), ErrorCode::kInternal);
}

}  // namespace
}  // namespace vigil::store
