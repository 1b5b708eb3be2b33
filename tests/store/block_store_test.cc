#include "store/block_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sqlite3.h>

#include <fstream>
#include <random>

#include "common/file.h"
#include "test_chain.h"

namespace vigil::store {
namespace {

using testing::Derive;
using ::testing::HasSubstr;
using testing::MakeCommit;
using testing::TemporaryDirectory;
using testing::VerifyChain;

// Runs SQL on the file directly, behind the store's back (to forge what a newer vigil or
// another program would have written).
void ExecuteRaw(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* database = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &database), SQLITE_OK);
  char* message = nullptr;
  int result = sqlite3_exec(database, sql.c_str(), nullptr, nullptr, &message);
  std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(database);
  ASSERT_EQ(result, SQLITE_OK) << text;
}

StoreOptions ReadOnly(bool read_only) {
  StoreOptions options;
  options.read_only = read_only;
  return options;
}

StoreOptions WithoutCreate() {
  StoreOptions options;
  options.create_if_missing = false;
  return options;
}

class BlockStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path StorePath() const { return directory_.path() / "ledger.sqlite3"; }

  std::unique_ptr<BlockStore> OpenStore(StoreOptions options = {}) {
    auto store = BlockStore::Open(StorePath(), std::move(options));
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  void CommitChain(BlockStore& store, uint64_t from_height, uint64_t to_height) {
    for (uint64_t height = from_height; height <= to_height; ++height) {
      auto committed = store.CommitBlock(MakeCommit(height));
      ASSERT_TRUE(committed) << committed.error().ToString();
    }
  }

  TemporaryDirectory directory_;
};

TEST_F(BlockStoreTest, CreatesTheSchemaAndReopensIt) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->LastHeight().value(), 0u);
    EXPECT_EQ(store->LoadConsensusState().value(), std::nullopt);
    EXPECT_TRUE(store->CheckIntegrity());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastHeight().value(), 0u);
  // The file says what it is: a Vigil store of the current schema, in WAL mode.
  sqlite3* database = nullptr;
  ASSERT_EQ(sqlite3_open(StorePath().c_str(), &database), SQLITE_OK);
  auto query = [&](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(database, sql, -1, &statement, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    std::string text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return text;
  };
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(query("PRAGMA application_id"), std::to_string(kApplicationId));
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  sqlite3_close(database);
}

TEST_F(BlockStoreTest, CommitsAndReadsBackEverythingAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    CommitChain(*store, 1, 12);
    EXPECT_EQ(VerifyChain(*store, 12), "");
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(VerifyChain(*store, 12), "");

  auto block = store->GetBlock(5).value();
  EXPECT_EQ(block.height, 5u);
  EXPECT_EQ(store->GetBlockHash(5).value(), Derive("hash", 5));
  auto location = store->FindTransaction(Derive("transaction", 6, 100)).value();
  EXPECT_EQ(location.height, 6u);
  EXPECT_EQ(location.index, 100u);
  EXPECT_EQ(location.result, ToBytes("result 6/100"));

  EXPECT_EQ(store->GetBlock(13).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->GetBlock(0).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->GetBlock(UINT64_MAX).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->GetBlockHash(13).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->FindTransaction(Derive("transaction", 13, 0)).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(BlockStoreTest, BlocksFromReturnsConsecutiveBlocksUpToTheLimit) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitChain(*store, 1, 10);
  auto blocks = store->BlocksFrom(4, 3).value();
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].height, 4u);
  EXPECT_EQ(blocks[2].height, 6u);
  EXPECT_EQ(blocks[2].block, MakeCommit(6).block);
  EXPECT_EQ(store->BlocksFrom(9, 100).value().size(), 2u);
  EXPECT_TRUE(store->BlocksFrom(11, 100).value().empty());
  EXPECT_TRUE(store->BlocksFrom(UINT64_MAX, 100).value().empty());
  EXPECT_EQ(store->BlocksFrom(1, limits::kStoreBlocksPerReadMax + 1).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(BlockStoreTest, ScanStateIsOrderedByKeyBytesAndPages) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  BlockCommit commit = MakeCommit(1);
  commit.state_writes = {
      {ToBytes("app/b"), ToBytes("2")},
      {ToBytes("app/a"), ToBytes("1")},
      {ToBytes("app/c"), ToBytes("3")},
      {ToBytes("apq"), ToBytes("x")},
      {ToBytes("app"), ToBytes("root")},
      {Bytes{0xff, 0xff}, ToBytes("top")},
      {Bytes{0xff, 0xff, 0x00}, ToBytes("top2")},
      {ToBytes("app/c"), ToBytes("3 again")},  // a later write to a key wins
      {ToBytes("app/empty"), Bytes{}},         // an empty value is a value, not a deletion
  };
  ASSERT_TRUE(store->CommitBlock(commit));
  auto keys = [](const std::vector<StateEntry>& entries) {
    std::vector<std::string> result;
    for (const auto& entry : entries) result.emplace_back(entry.key.begin(), entry.key.end());
    return result;
  };
  auto app = store->ScanState(AsBytes("app/"), 100).value();
  EXPECT_EQ(keys(app), (std::vector<std::string>{"app/a", "app/b", "app/c", "app/empty"}));
  EXPECT_EQ(app[2].value, ToBytes("3 again"));
  EXPECT_EQ(app[2].height, 1u);
  EXPECT_TRUE(app[3].value.empty());
  EXPECT_EQ(store->GetState(AsBytes("app/empty")).value(), std::optional<Bytes>(Bytes{}));
  EXPECT_EQ(store->GetState(AsBytes("app/missing")).value(), std::nullopt);

  auto first_page = store->ScanState(AsBytes("app/"), 2).value();
  EXPECT_EQ(keys(first_page), (std::vector<std::string>{"app/a", "app/b"}));
  auto second_page = store->ScanState(AsBytes("app/"), 2, first_page.back().key).value();
  EXPECT_EQ(keys(second_page), (std::vector<std::string>{"app/c", "app/empty"}));
  EXPECT_TRUE(store->ScanState(AsBytes("app/"), 2, second_page.back().key).value().empty());

  // Prefixes of 0xff bytes have no successor; the scan runs to the end of the key space.
  EXPECT_EQ(store->ScanState(Bytes{0xff}, 10).value().size(), 2u);
  EXPECT_EQ(store->ScanState({}, 100).value().size(), 8u);
  EXPECT_TRUE(store->ScanState(AsBytes("zzz"), 10).value().empty());
  EXPECT_EQ(store->ScanState({}, limits::kStoreScanEntriesMax + 1).error().code(),
            ErrorCode::kInvalidArgument);
}

// A snapshot of everything observable, to show a refused commit changed nothing.
std::string Snapshot(BlockStore& store) {
  std::string text = "last=" + std::to_string(store.LastHeight().value()) + ";";
  // Each Expected is kept in a variable: a range-for over `temporary.value()` would dangle.
  const auto blocks = store.BlocksFrom(1, 1000).value();
  for (const StoredBlock& block : blocks) {
    text += ToHex(block.block_hash) + ToHex(block.block) + ";";
    const auto transactions = store.TransactionsOfBlock(block.height).value();
    for (const auto& entry : transactions) text += ToHex(entry.id) + ToHex(entry.result) + ",";
  }
  const auto state = store.ScanState({}, 100000).value();
  for (const StateEntry& entry : state) {
    text += ToHex(entry.key) + "=" + ToHex(entry.value) + "@" + std::to_string(entry.height);
  }
  auto consensus = store.LoadConsensusState().value();
  text += consensus ? ToHex(*consensus) : "no consensus state";
  return text;
}

TEST_F(BlockStoreTest, RefusesAHeightThatDoesNotFollowAndChangesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto refused = store->CommitBlock(MakeCommit(2));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.error().message(), HasSubstr("the next block must have height 1"));
  EXPECT_EQ(VerifyChain(*store, 0), "");

  CommitChain(*store, 1, 3);
  const std::string before = Snapshot(*store);
  for (uint64_t height : {1, 2, 3, 5, 100}) {
    auto wrong = store->CommitBlock(MakeCommit(height));
    ASSERT_FALSE(wrong) << height;
    EXPECT_THAT(wrong.error().message(), HasSubstr("must have height 4"));
  }
  BlockCommit unlinked = MakeCommit(4);
  unlinked.previous_block_hash = Derive("hash", 2);
  auto not_linked = store->CommitBlock(unlinked);
  ASSERT_FALSE(not_linked);
  EXPECT_THAT(not_linked.error().message(), HasSubstr("names previous block"));
  EXPECT_EQ(Snapshot(*store), before);
  EXPECT_EQ(VerifyChain(*store, 3), "");
  CommitChain(*store, 4, 4);
  EXPECT_EQ(VerifyChain(*store, 4), "");
}

TEST_F(BlockStoreTest, RefusesMalformedCommitsBeforeWriting) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitChain(*store, 1, 1);
  const std::string before = Snapshot(*store);
  std::vector<std::pair<std::string, std::function<void(BlockCommit&)>>> breakages = {
      {"block hash", [](BlockCommit& c) { c.block_hash.pop_back(); }},
      {"previous block hash", [](BlockCommit& c) { c.previous_block_hash.clear(); }},
      {"state hash", [](BlockCommit& c) { c.state_hash.push_back(0); }},
      {"transaction id", [](BlockCommit& c) { c.transactions[0].id.resize(31); }},
      {"key",
       [](BlockCommit& c) {
         c.state_writes[0].key.assign(limits::kStoreStateKeyBytesMax + 1, 'k');
       }},
      {"commit certificate",
       [](BlockCommit& c) {
         c.commit_certificate.assign(limits::kStoreCommitCertificateBytesMax + 1, 0);
       }},
      {"out of range", [](BlockCommit& c) { c.height = uint64_t{1} << 63; }},
  };
  for (auto& [what, breakage] : breakages) {
    BlockCommit commit = MakeCommit(2);
    breakage(commit);
    auto refused = store->CommitBlock(commit);
    ASSERT_FALSE(refused) << what;
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument) << what;
    EXPECT_THAT(refused.error().message(), HasSubstr(what));
  }
  EXPECT_EQ(Snapshot(*store), before);
}

TEST_F(BlockStoreTest, FindsTheIdsOfTransactionsWithAnotherResult) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  BlockCommit first = MakeCommit(1);
  first.transactions.resize(3);
  first.transactions[0] = {Derive("transaction", 1, 0), ToBytes("ok")};
  first.transactions[1] = {Derive("transaction", 1, 1), ToBytes("refused: no")};
  first.transactions[2] = {Derive("transaction", 1, 2), ToBytes("ok")};
  ASSERT_TRUE(store->CommitBlock(first));
  BlockCommit second = MakeCommit(2);
  second.transactions = {{Derive("transaction", 2, 0), ToBytes("refused: also no")}};
  ASSERT_TRUE(store->CommitBlock(second));

  auto other = store->TransactionIdsWithResultOtherThan(ToBytes("ok"));
  ASSERT_TRUE(other.has_value()) << other.error().message();
  std::ranges::sort(*other);
  std::vector<Bytes> expected = {Derive("transaction", 1, 1), Derive("transaction", 2, 0)};
  std::ranges::sort(expected);
  EXPECT_EQ(*other, expected);
  EXPECT_EQ(store->TransactionIdsWithResultOtherThan(ToBytes("refused: no"))->size(), 3u);
}

TEST_F(BlockStoreTest, ADuplicateTransactionIdMidwayRollsTheWholeBlockBack) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitChain(*store, 1, 6);  // block 6 has 121 transactions
  const std::string before = Snapshot(*store);
  BlockCommit commit = MakeCommit(7);
  commit.transactions.resize(1000);
  for (size_t index = 0; index < commit.transactions.size(); ++index) {
    commit.transactions[index] = {Derive("transaction", 7, index), ToBytes("r")};
  }
  // Transaction 500 replays one already committed in block 6: the unique index refuses it
  // after the block row, 500 index rows and nothing else were written.
  commit.transactions[500].id = Derive("transaction", 6, 17);
  auto refused = store->CommitBlock(commit);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(refused.error().message(), HasSubstr("UNIQUE constraint failed: transactions.id"));
  EXPECT_THAT(refused.error().message(), HasSubstr("transaction 500"));
  EXPECT_EQ(Snapshot(*store), before);
  EXPECT_EQ(store->FindTransaction(Derive("transaction", 7, 0)).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(store->FindTransaction(Derive("transaction", 6, 17)).value().height, 6u);
  CommitChain(*store, 7, 8);
  EXPECT_EQ(VerifyChain(*store, 8), "");
}

TEST_F(BlockStoreTest, AFaultAtAnyPointOfACommitRollsItBack) {
  CommitPoint fail_at = CommitPoint::kAfterBlockRow;
  int fail_on_occurrence = -1;  // negative: no fault
  int occurrences = 0;
  StoreOptions options;
  options.fault_hook = [&](CommitPoint point) -> Status {
    if (point != fail_at || fail_on_occurrence < 0) return Ok();
    if (occurrences++ == fail_on_occurrence) {
      return Fail(ErrorCode::kIOError, "injected fault");
    }
    return Ok();
  };
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  CommitChain(*store, 1, 4);
  const std::string before = Snapshot(*store);
  const std::pair<CommitPoint, int> faults[] = {
      {CommitPoint::kAfterBlockRow, 0},           {CommitPoint::kAfterTransactionRow, 0},
      {CommitPoint::kAfterTransactionRow, 40},    {CommitPoint::kAfterStateWrite, 0},
      {CommitPoint::kAfterStateWrite, 2},         {CommitPoint::kAfterStateWrite, 150},
      {CommitPoint::kBeforeTransactionCommit, 0},
  };
  for (auto [point, occurrence] : faults) {
    fail_at = point;
    fail_on_occurrence = occurrence;
    occurrences = 0;
    auto failed = store->CommitBlock(MakeCommit(5));
    ASSERT_FALSE(failed) << static_cast<int>(point) << "/" << occurrence;
    EXPECT_EQ(failed.error().code(), ErrorCode::kIOError);
    EXPECT_THAT(failed.error().message(), HasSubstr("injected fault"));
    EXPECT_THAT(failed.error().message(), HasSubstr("committing block 5"));
    EXPECT_EQ(Snapshot(*store), before) << static_cast<int>(point) << "/" << occurrence;
  }
  fail_on_occurrence = -1;
  CommitChain(*store, 5, 6);
  EXPECT_EQ(VerifyChain(*store, 6), "");
}

TEST_F(BlockStoreTest, AGarbageFileIsRefusedWithAClearError) {
  std::mt19937_64 random(42);
  Bytes garbage(64 * 1024);
  for (auto& byte : garbage) byte = static_cast<uint8_t>(random());
  ASSERT_TRUE(WriteFileAtomically(StorePath(), garbage, 0600));
  for (bool read_only : {false, true}) {
    auto store = BlockStore::Open(StorePath(), ReadOnly(read_only));
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code(), ErrorCode::kCorruption);
    EXPECT_THAT(store.error().message(), HasSubstr(StorePath().string()));
    EXPECT_THAT(store.error().message(), HasSubstr("file is not a database"));
    EXPECT_THAT(store.error().message(), HasSubstr("restore it from a backup"));
  }
  // The file is left as it was: the store never "repairs" what it does not understand.
  EXPECT_EQ(ReadFile(StorePath(), garbage.size()).value(), garbage);
}

TEST_F(BlockStoreTest, DamagedPagesAreReportedNotCrashedOn) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    CommitChain(*store, 1, 20);
    ASSERT_TRUE(store->Checkpoint());
  }
  const uintmax_t size = std::filesystem::file_size(StorePath());
  ASSERT_GT(size, 16u * 4096);
  {
    // Overwrite every page but the first (the header and the schema) with garbage.
    std::fstream file(StorePath(), std::ios::in | std::ios::out | std::ios::binary);
    std::mt19937_64 random(7);
    for (uintmax_t offset = 4096; offset < size; offset += 4096) {
      file.seekp(static_cast<std::streamoff>(offset + 100));
      for (int byte = 0; byte < 512; ++byte) file.put(static_cast<char>(random()));
    }
  }
  auto store = BlockStore::Open(StorePath(), {});
  if (!store) {
    EXPECT_EQ(store.error().code(), ErrorCode::kCorruption) << store.error().ToString();
    return;
  }
  auto integrity = (*store)->CheckIntegrity();
  ASSERT_FALSE(integrity);
  EXPECT_EQ(integrity.error().code(), ErrorCode::kCorruption);
  // Reads fail with errors (or, where SQLite cannot tell, return damaged bytes), never crash.
  for (uint64_t height = 1; height <= 20; ++height) (void)(*store)->GetBlock(height);
  (void)(*store)->ScanState({}, 1000);
}

TEST_F(BlockStoreTest, ADatabaseOfAnotherProgramIsRefused) {
  ExecuteRaw(StorePath(), "CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('x')");
  auto store = BlockStore::Open(StorePath(), {});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kRefused);
  EXPECT_THAT(store.error().message(), HasSubstr("not a Vigil store"));
}

TEST_F(BlockStoreTest, ANewerSchemaIsRefusedWithAMessage) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    CommitChain(*store, 1, 2);
  }
  ExecuteRaw(StorePath(), "UPDATE schema_version SET version = 99");
  for (bool read_only : {false, true}) {
    auto store = BlockStore::Open(StorePath(), ReadOnly(read_only));
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code(), ErrorCode::kRefused);
    EXPECT_THAT(store.error().message(), HasSubstr("schema version 99"));
    EXPECT_THAT(store.error().message(), HasSubstr("written by a newer vigil"));
  }
}

TEST_F(BlockStoreTest, AMissingSchemaVersionIsCorruption) {
  { ASSERT_NE(OpenStore(), nullptr); }
  ExecuteRaw(StorePath(), "DROP TABLE schema_version");
  auto store = BlockStore::Open(StorePath(), {});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kCorruption);
}

TEST_F(BlockStoreTest, ConsensusStateSurvivesReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->SaveConsensusState(ToBytes("round 0 prevote")));
    ASSERT_TRUE(store->SaveConsensusState(ToBytes("round 0 precommit")));
  }
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->LoadConsensusState().value(), ToBytes("round 0 precommit"));
    // Committed with a block, the consensus state is replaced in the same transaction.
    BlockCommit commit = MakeCommit(1);
    commit.consensus_state = ToBytes("height 2 start");
    ASSERT_TRUE(store->CommitBlock(commit));
    // A refused block leaves the consensus state alone too.
    BlockCommit wrong = MakeCommit(3);
    wrong.consensus_state = ToBytes("must not be saved");
    ASSERT_FALSE(store->CommitBlock(wrong));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LoadConsensusState().value(), ToBytes("height 2 start"));
  EXPECT_FALSE(store->SaveConsensusState(Bytes(limits::kStoreConsensusStateBytesMax + 1)));
}

TEST_F(BlockStoreTest, AReadOnlyStoreReadsAlongsideTheWriterButNeverWrites) {
  auto writer = OpenStore();
  ASSERT_NE(writer, nullptr);
  CommitChain(*writer, 1, 3);
  auto reader = OpenStore(ReadOnly(true));
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(VerifyChain(*reader, 3), "");
  CommitChain(*writer, 4, 5);  // WAL: the writer is not blocked by the reader
  EXPECT_EQ(VerifyChain(*reader, 5), "");
  auto refused = reader->CommitBlock(MakeCommit(6));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(reader->SaveConsensusState(ToBytes("x")));
  EXPECT_FALSE(reader->SetMetadata("chain", ToBytes("x")));
}

TEST_F(BlockStoreTest, ASecondWriterIsRefusedUntilTheFirstCloses) {
  auto first = OpenStore();
  ASSERT_NE(first, nullptr);
  auto second = BlockStore::Open(StorePath(), {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(second.error().message(), HasSubstr("already open for writing"));
  auto reader = BlockStore::Open(StorePath(), ReadOnly(true));  // readers are welcome
  EXPECT_TRUE(reader);
  first.reset();
  EXPECT_NE(OpenStore(), nullptr);
}

TEST_F(BlockStoreTest, OpeningAMissingStoreReadOnlyOrWithoutCreateFails) {
  auto read_only = BlockStore::Open(StorePath(), ReadOnly(true));
  ASSERT_FALSE(read_only);
  EXPECT_EQ(read_only.error().code(), ErrorCode::kIOError);
  EXPECT_THAT(read_only.error().message(), HasSubstr("opening the ledger store"));
  auto no_create = BlockStore::Open(StorePath(), WithoutCreate());
  ASSERT_FALSE(no_create);
  EXPECT_FALSE(std::filesystem::exists(StorePath()));
  auto no_directory = BlockStore::Open(directory_.path() / "missing" / "ledger.sqlite3", {});
  ASSERT_FALSE(no_directory);
  EXPECT_EQ(no_directory.error().code(), ErrorCode::kIOError);
}

TEST_F(BlockStoreTest, MetadataRoundTrips) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->GetMetadata("chain_id").value(), std::nullopt);
    ASSERT_TRUE(store->SetMetadata("chain_id", ToBytes("factory-7")));
    ASSERT_TRUE(store->SetMetadata("chain_id", ToBytes("factory-8")));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetMetadata("chain_id").value(), ToBytes("factory-8"));
  EXPECT_FALSE(store->SetMetadata(std::string(limits::kStoreMetadataNameBytesMax + 1, 'n'), {}));
}

}  // namespace
}  // namespace vigil::store
