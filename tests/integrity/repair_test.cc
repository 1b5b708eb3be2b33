// The pristine store and repair on real files: every kind of tampering detected by a scan and
// undone, then a clean scan; a damaged pristine copy is never installed ("needs fetch").
#include "integrity/repair.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "integrity/scanner.h"
#include "integrity/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::integrity {
namespace {

using testing::ReadText;
using testing::SampleFiles;
using testing::WriteFile;
using testing::WriteRelease;

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = WriteRelease(root(), SampleFiles());
    auto store = PristineStore::Open(directory_.path() / "pristine");
    ASSERT_TRUE(store);
    store_.emplace(std::move(*store));
    ASSERT_TRUE(store_->AddRelease(manifest_, root()));
  }
  std::filesystem::path root() const { return directory_.path() / "release"; }
  std::vector<Difference> Scan() {
    auto records = ScanTree(root());
    VIGIL_ASSERT(records.has_value());
    return MakeSnapshot(manifest_, std::move(*records), {}).differences;
  }

  test_support::TemporaryDirectory directory_{"integrity-repair"};
  release::Manifest manifest_;
  std::optional<PristineStore> store_;
};

TEST_F(RepairTest, EveryTamperingIsRepaired) {
  WriteFile(root() / "etc/config.toml", "speed = 9000\n");              // modify
  std::filesystem::resize_file(root() / "lib/big.bin", 10);             // truncate
  ASSERT_EQ(::chmod((root() / "bin/run").c_str(), 0777), 0);            // chmod
  std::filesystem::remove(root() / "lib/empty");                        // delete
  WriteFile(root() / "lib/implant.so", "evil");                         // add
  std::filesystem::remove_all(root() / "share");                        // delete a directory
  std::filesystem::create_directory_symlink("/etc", root() / "share");  // ... and link it away
  auto differences = Scan();
  ASSERT_EQ(differences.size(), 7u);  // 5 files + implant + the "share" link (added)

  auto report = Repair(root(), differences, *store_);
  for (const auto& action : report.actions) {
    EXPECT_NE(action.outcome, RepairOutcome::kFailed) << action.path << ": " << action.detail;
  }
  EXPECT_TRUE(report.Complete());
  EXPECT_EQ(report.Count(RepairOutcome::kDeleted), 2u);
  EXPECT_EQ(report.Count(RepairOutcome::kRestored), 5u);
  EXPECT_TRUE(Scan().empty());
  EXPECT_EQ(ReadText(root() / "etc/config.toml"), "speed = 3\n");
  EXPECT_FALSE(std::filesystem::is_symlink(root() / "share"));
  EXPECT_TRUE(std::filesystem::exists("/etc/passwd"));  // the link's target was left alone
  for (const auto& action : report.actions) {
    if (action.outcome == RepairOutcome::kRestored) {
      EXPECT_EQ(action.source.rfind(store_->directory().string(), 0), 0u);
    }
  }
}

TEST_F(RepairTest, AFileReplacedByALinkGetsTheFileBackAndTheTargetIsUntouched) {
  test_support::TemporaryDirectory outside("integrity-outside");
  WriteFile(outside.path() / "victim", "do not overwrite");
  std::filesystem::remove(root() / "bin/run");
  std::filesystem::create_symlink(outside.path() / "victim", root() / "bin/run");
  auto differences = Scan();
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].kind, DifferenceKind::kReplacedByLink);
  auto report = Repair(root(), differences, *store_);
  EXPECT_TRUE(report.Complete()) << report.actions[0].detail;
  EXPECT_TRUE(Scan().empty());
  EXPECT_EQ(ReadText(outside.path() / "victim"), "do not overwrite");
  struct stat status {};
  ASSERT_EQ(::lstat((root() / "bin/run").c_str(), &status), 0);
  EXPECT_TRUE(S_ISREG(status.st_mode));
  EXPECT_EQ(status.st_mode & 07777, 0755u);
}

TEST_F(RepairTest, ADamagedPristineCopyIsNeverInstalledAndAsksForAFetch) {
  WriteFile(root() / "etc/config.toml", "speed = 9000\n");
  const auto* entry = release::FindFile(manifest_, "etc/config.toml");
  ASSERT_NE(entry, nullptr);
  auto copy = store_->PathOf(entry->sha256);
  ASSERT_EQ(::chmod(copy.c_str(), 0600), 0);
  WriteFile(copy, "speed = 4\n", 0400);  // same length, different bytes
  auto report = Repair(root(), Scan(), *store_);
  ASSERT_EQ(report.actions.size(), 1u);
  EXPECT_EQ(report.actions[0].outcome, RepairOutcome::kNeedsFetch);
  EXPECT_NE(report.actions[0].detail.find("damaged"), std::string::npos);
  EXPECT_FALSE(report.Complete());
  EXPECT_EQ(ReadText(root() / "etc/config.toml"), "speed = 9000\n");  // untouched
  // No temporary file is left behind.
  for (const auto& entry_on_disk : std::filesystem::directory_iterator(root() / "etc")) {
    EXPECT_EQ(entry_on_disk.path().filename(), "config.toml");
  }
  // A missing copy: also a fetch.
  std::filesystem::remove(copy);
  report = Repair(root(), Scan(), *store_);
  EXPECT_EQ(report.actions[0].outcome, RepairOutcome::kNeedsFetch);
}

TEST_F(RepairTest, AddingATamperedReleaseToTheStoreIsRefused) {
  WriteFile(root() / "lib/empty", "not empty");
  auto added = store_->AddRelease(manifest_, root());
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(added.error().message().find("lib/empty"), std::string::npos);
}

}  // namespace
}  // namespace vigil::integrity
