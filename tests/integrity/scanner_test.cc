// The scanner on real trees: hashes, modes, owners, links never followed, other kinds, limits
// of what it records, the single-path re-check and /proc/PID/exe.
#include "integrity/scanner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "integrity/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::integrity {
namespace {

using testing::SampleFiles;
using testing::WriteFile;
using testing::WriteRelease;

TEST(ScannerTest, ScanOfAnUntouchedReleaseMatchesItsManifest) {
  test_support::TemporaryDirectory directory("integrity-scan");
  auto manifest = WriteRelease(directory.path(), SampleFiles());
  auto records = ScanTree(directory.path());
  ASSERT_TRUE(records) << records.error().ToString();
  ASSERT_EQ(records->size(), manifest.files.size());
  for (size_t i = 0; i < records->size(); ++i) {
    EXPECT_EQ((*records)[i].path, manifest.files[i].path);
    EXPECT_EQ((*records)[i].sha256, manifest.files[i].sha256);
    EXPECT_EQ((*records)[i].mode, manifest.files[i].mode);
    EXPECT_EQ((*records)[i].owner_uid, ::geteuid());
  }
  auto snapshot =
      MakeSnapshot(manifest, std::move(*records),
                   DiffOptions{.expected_uid = ::geteuid(), .expected_gid = std::nullopt});
  EXPECT_TRUE(snapshot.Clean());
  EXPECT_EQ(snapshot.release_view_root, release::ManifestRoot(manifest));
}

TEST(ScannerTest, OneThreadAndManyThreadsAgree) {
  test_support::TemporaryDirectory directory("integrity-scan");
  for (int i = 0; i < 300; ++i) {
    WriteFile(directory.path() / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i)),
              std::string(static_cast<size_t>(i) * 97, static_cast<char>('a' + i % 26)));
  }
  auto one = ScanTree(directory.path(), ScanOptions{.threads = 1, .excluded = {}});
  auto many = ScanTree(directory.path(), ScanOptions{.threads = 8, .excluded = {}});
  ASSERT_TRUE(one && many);
  EXPECT_EQ(one->size(), 300u);
  EXPECT_EQ(*one, *many);
  EXPECT_EQ(SnapshotRoot(*one), SnapshotRoot(*many));
}

TEST(ScannerTest, LinksAreRecordedAsLinksAndNeverFollowed) {
  test_support::TemporaryDirectory directory("integrity-scan");
  test_support::TemporaryDirectory outside("integrity-outside");
  WriteFile(outside.path() / "secret", "outside the root");
  WriteFile(directory.path() / "real", "real");
  std::filesystem::create_symlink(outside.path() / "secret", directory.path() / "file-link");
  std::filesystem::create_directory_symlink(outside.path(), directory.path() / "dir-link");
  auto records = ScanTree(directory.path());
  ASSERT_TRUE(records) << records.error().ToString();
  ASSERT_EQ(records->size(), 3u);  // nothing from inside dir-link
  EXPECT_EQ((*records)[0].path, "dir-link");
  EXPECT_EQ((*records)[0].kind, FileKind::kSymlink);
  EXPECT_EQ((*records)[0].sha256, crypto::Sha256(AsBytes(outside.path().string())));
  EXPECT_EQ((*records)[1].path, "file-link");
  EXPECT_EQ((*records)[1].kind, FileKind::kSymlink);
  EXPECT_EQ((*records)[2].kind, FileKind::kRegular);
  // The single-path re-check refuses to walk through the linked directory.
  auto through = ScanPath(directory.path(), "dir-link/secret");
  ASSERT_TRUE(through);
  EXPECT_FALSE(through->has_value());
  auto link = ScanPath(directory.path(), "file-link");
  ASSERT_TRUE(link && link->has_value());
  EXPECT_EQ((*link)->kind, FileKind::kSymlink);
}

TEST(ScannerTest, FifoIsRecordedAsOtherWithoutBlocking) {
  test_support::TemporaryDirectory directory("integrity-scan");
  ASSERT_EQ(::mkfifo((directory.path() / "pipe").c_str(), 0644), 0);
  auto records = ScanTree(directory.path());
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].kind, FileKind::kOther);
  auto one = ScanPath(directory.path(), "pipe");
  ASSERT_TRUE(one && one->has_value());
  EXPECT_EQ((*one)->kind, FileKind::kOther);
}

TEST(ScannerTest, ExcludedPathsAreLeftOut) {
  test_support::TemporaryDirectory directory("integrity-scan");
  WriteFile(directory.path() / "keep", "k");
  WriteFile(directory.path() / "state/agent.db", "s");
  WriteFile(directory.path() / "log", "l");
  auto records =
      ScanTree(directory.path(), ScanOptions{.threads = 0, .excluded = {"state", "log"}});
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].path, "keep");
}

TEST(ScannerTest, ScanPathSeesEveryChange) {
  test_support::TemporaryDirectory directory("integrity-scan");
  auto manifest = WriteRelease(directory.path(), SampleFiles());
  auto check = [&](const std::string& path) {
    auto record = ScanPath(directory.path(), path);
    VIGIL_ASSERT(record.has_value());
    return CheckOne(manifest, path, *record, {});
  };
  EXPECT_FALSE(check("etc/config.toml"));
  WriteFile(directory.path() / "etc/config.toml", "speed = 300\n");
  auto modified = check("etc/config.toml");
  ASSERT_TRUE(modified);
  EXPECT_EQ(modified->aspects, kAspectContent);
  ASSERT_EQ(::chmod((directory.path() / "lib/empty").c_str(), 0666), 0);
  EXPECT_EQ(check("lib/empty")->aspects, kAspectMode);
  std::filesystem::remove(directory.path() / "bin/run");
  EXPECT_EQ(check("bin/run")->kind, DifferenceKind::kRemoved);
  std::filesystem::create_symlink("/bin/sh", directory.path() / "bin/run");
  EXPECT_EQ(check("bin/run")->kind, DifferenceKind::kReplacedByLink);
  WriteFile(directory.path() / "lib/implant.so", "evil");
  EXPECT_EQ(check("lib/implant.so")->kind, DifferenceKind::kAdded);
  EXPECT_FALSE(check("lib"));  // a directory is not a record
  auto missing_root = ScanPath(directory.path() / "absent", "x");
  ASSERT_FALSE(missing_root);
  EXPECT_NE(missing_root.error().message().find("absent"), std::string::npos);
}

TEST(ScannerTest, MissingRootIsAnErrorNamingIt) {
  auto records = ScanTree("/nonexistent/vigil-root");
  ASSERT_FALSE(records);
  EXPECT_NE(records.error().message().find("/nonexistent/vigil-root"), std::string::npos);
}

// A copy of /bin/sleep as the release's executable, run as a real process.
class RunningReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(directory_.path() / "bin");
    std::filesystem::copy_file("/bin/sleep", directory_.path() / "bin/app");
    ASSERT_EQ(::chmod((directory_.path() / "bin/app").c_str(), 0755), 0);
    auto record = ScanPath(directory_.path(), "bin/app");
    ASSERT_TRUE(record && record->has_value());
    manifest_.app = "press-control";
    manifest_.version = "1.0.0";
    manifest_.entry = {"bin/app"};
    manifest_.files = {release::FileEntry{.path = "bin/app",
                                          .size_bytes = (*record)->size_bytes,
                                          .mode = 0755,
                                          .sha256 = (*record)->sha256}};
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void Start() {
    std::string binary = (directory_.path() / "bin/app").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(binary.c_str(), binary.c_str(), "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait until the child runs the new image (its exe link leaves the test binary).
    for (int i = 0; i < 200; ++i) {
      std::error_code error;
      auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid_) + "/exe", error);
      if (!error && exe.filename() == "app") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << "the child did not exec";
  }
  test_support::TemporaryDirectory directory_{"integrity-exe"};
  release::Manifest manifest_;
  pid_t pid_ = -1;
};

TEST_F(RunningReleaseTest, TheReleaseExecutableMatches) {
  Start();
  auto check = CheckProcessExecutable(pid_, directory_.path(), manifest_);
  ASSERT_TRUE(check) << check.error().ToString();
  EXPECT_TRUE(check->matches) << check->reason;
  EXPECT_EQ(check->relative_path, "bin/app");
  EXPECT_FALSE(check->deleted);
}

TEST_F(RunningReleaseTest, ATamperedImageDoesNotMatch) {
  // The file is altered before the process starts: the running image is the tampered one.
  {
    std::ofstream out(directory_.path() / "bin/app", std::ios::binary | std::ios::app);
    out << "appended";
  }
  Start();
  auto check = CheckProcessExecutable(pid_, directory_.path(), manifest_);
  ASSERT_TRUE(check);
  EXPECT_FALSE(check->matches);
  EXPECT_NE(check->reason.find("differs"), std::string::npos) << check->reason;
}

TEST_F(RunningReleaseTest, ReplacingTheFileLeavesTheRunningImageVisible) {
  Start();
  // The file at the path is replaced (rename over it): the process still runs the old image,
  // which /proc/PID/exe still opens; the check says its file was replaced.
  WriteFile(directory_.path() / "bin/app.new", "#!/bin/sh\necho replaced\n", 0755);
  std::filesystem::rename(directory_.path() / "bin/app.new", directory_.path() / "bin/app");
  auto check = CheckProcessExecutable(pid_, directory_.path(), manifest_);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->deleted);
  EXPECT_TRUE(check->matches);  // the running bytes are still the release's
  // The path itself now differs, which the scan reports.
  auto record = ScanPath(directory_.path(), "bin/app");
  ASSERT_TRUE(record && record->has_value());
  EXPECT_TRUE(CheckOne(manifest_, "bin/app", *record, {}).has_value());
}

TEST_F(RunningReleaseTest, AProcessOutsideTheRootIsReported) {
  auto check = CheckProcessExecutable(::getpid(), directory_.path(), manifest_);
  ASSERT_TRUE(check);
  EXPECT_FALSE(check->matches);
  EXPECT_FALSE(check->relative_path.has_value());
  EXPECT_NE(check->reason.find("outside"), std::string::npos);
}

}  // namespace
}  // namespace vigil::integrity
