// The watcher on a real tree, with each back end (fanotify, inotify): every kind of change
// reported as a path, new directories watched, directory removal and queue overflow reported
// as "full scan needed"; and the choice between the back ends.
#include "integrity/watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "integrity/scanner.h"
#include "integrity/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::integrity {
namespace {

using testing::SampleFiles;
using testing::WriteFile;
using testing::WriteRelease;

// Drains until `done(batch so far)` or 5 s pass.
template <typename Done>
WatchBatch DrainUntil(Watcher& watcher, Done done) {
  WatchBatch all;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd descriptor{.fd = watcher.fd(), .events = POLLIN, .revents = 0};
    ::poll(&descriptor, 1, 50);
    auto batch = watcher.Drain();
    VIGIL_ASSERT(batch.has_value());
    all.full_scan_needed |= batch->full_scan_needed;
    all.paths.insert(all.paths.end(), batch->paths.begin(), batch->paths.end());
    if (done(all)) break;
  }
  return all;
}

bool Contains(const WatchBatch& batch, const std::string& path) {
  return std::find(batch.paths.begin(), batch.paths.end(), path) != batch.paths.end();
}

// Why fanotify cannot run here, or "" when it can: without CAP_SYS_ADMIN (unprivileged CI)
// fanotify_init fails with EPERM, or (Linux >= 5.13, which lets anyone init a FID group) the
// filesystem mark does; a seccomp filter or an old kernel gives EPERM or ENOSYS.
std::string FanotifyUnavailable() {
  int fd = ::fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC, O_RDONLY);
  if (fd < 0) {
    if (errno == EPERM || errno == ENOSYS) return std::string("fanotify_init: ") + strerror(errno);
    return "";  // any other failure is the watcher's to report (and the test's to fail)
  }
  auto directory = std::filesystem::temp_directory_path();
  int marked = ::fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE, AT_FDCWD,
                               directory.c_str());
  int error = errno;
  ::close(fd);
  if (marked != 0 && error == EPERM) {
    return std::string("fanotify_mark(FAN_MARK_FILESYSTEM): ") + strerror(error);
  }
  return "";
}

class WatcherTest : public ::testing::TestWithParam<WatcherBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == WatcherBackend::kFanotify) {
      if (std::string reason = FanotifyUnavailable(); !reason.empty()) GTEST_SKIP() << reason;
    }
    WriteRelease(directory_.path(), SampleFiles());
  }
  // The watcher, or null after recording why (callers ASSERT_TRUE it).
  std::unique_ptr<Watcher> StartWatcher() {
    auto watcher = Watcher::Start(directory_.path(), GetParam());
    if (!watcher) {
      ADD_FAILURE() << watcher.error().ToString();
      return nullptr;
    }
    EXPECT_EQ((*watcher)->backend(), WatcherBackendName(GetParam()));
    return std::move(*watcher);
  }
  std::filesystem::path Path(const std::string& relative) const {
    return directory_.path() / relative;
  }

  test_support::TemporaryDirectory directory_{"integrity-watch"};
};

TEST_P(WatcherTest, EveryKindOfChangeIsReportedAsAPath) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  EXPECT_EQ(watcher->watched_directories(), 9u);  // root, bin, etc, lib, share, deep, a, b, c
  WriteFile(Path("etc/config.toml"), "speed = 300\n");
  ASSERT_EQ(::chmod(Path("lib/empty").c_str(), 0666), 0);
  std::filesystem::remove(Path("bin/run"));
  std::filesystem::rename(Path("lib/big.bin"), Path("lib/moved.bin"));
  WriteFile(Path("share/deep/a/b/c/implant"), "x");
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return b.paths.size() >= 6; });
  EXPECT_FALSE(batch.full_scan_needed);
  for (const char* path : {"etc/config.toml", "lib/empty", "bin/run", "lib/big.bin",
                           "lib/moved.bin", "share/deep/a/b/c/implant"}) {
    EXPECT_TRUE(Contains(batch, path)) << path;
  }
}

TEST_P(WatcherTest, TruncateChmodAndSymlinkReplacementAreReported) {
  ASSERT_EQ(::symlink("run", Path("bin/link").c_str()), 0);
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  ASSERT_EQ(::truncate(Path("lib/big.bin").c_str(), 10), 0);
  ASSERT_EQ(::chmod(Path("bin/run").c_str(), 04755), 0);
  // `ln -sf` style: a new link renamed over the old one.
  ASSERT_EQ(::symlink("/bin/sh", Path("bin/link.new").c_str()), 0);
  std::filesystem::rename(Path("bin/link.new"), Path("bin/link"));
  // A file replaced by a link.
  std::filesystem::remove(Path("etc/config.toml"));
  ASSERT_EQ(::symlink("/etc/passwd", Path("etc/config.toml").c_str()), 0);
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) {
    return Contains(b, "lib/big.bin") && Contains(b, "bin/run") && Contains(b, "bin/link") &&
           Contains(b, "etc/config.toml");
  });
  EXPECT_FALSE(batch.full_scan_needed);
  for (const char* path : {"lib/big.bin", "bin/run", "bin/link", "etc/config.toml"}) {
    EXPECT_TRUE(Contains(batch, path)) << path;
  }
}

TEST_P(WatcherTest, RenamesIntoAndOutOfTheTreeAreReportedAndOutsideIsNot) {
  test_support::TemporaryDirectory outside("integrity-outside");
  WriteFile(outside.path() / "incoming", "planted");
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  std::filesystem::rename(outside.path() / "incoming", Path("bin/incoming"));
  std::filesystem::rename(Path("etc/config.toml"), outside.path() / "stolen");
  WriteFile(outside.path() / "noise", "not ours");
  WriteFile(Path("lib/marker"), "m");  // written last: once seen, the rest has been read
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "lib/marker"); });
  EXPECT_FALSE(batch.full_scan_needed);
  EXPECT_TRUE(Contains(batch, "bin/incoming"));
  EXPECT_TRUE(Contains(batch, "etc/config.toml"));
  for (const std::string& path : batch.paths) {
    EXPECT_EQ(path.find("noise"), std::string::npos) << path;
    EXPECT_EQ(path.find("stolen"), std::string::npos) << path;
  }
}

TEST_P(WatcherTest, ANewDirectoryIsWatchedAndItsFilesReported) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  WriteFile(Path("new/sub/early"), "e");
  auto batch =
      DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "new/sub/early"); });
  EXPECT_TRUE(Contains(batch, "new/sub/early"));
  EXPECT_EQ(watcher->watched_directories(), 11u);
  WriteFile(Path("new/sub/late"), "l");
  batch = DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "new/sub/late"); });
  EXPECT_TRUE(Contains(batch, "new/sub/late"));
}

TEST_P(WatcherTest, ADirectoryMovedInHasItsFilesReportedAndIsWatched) {
  test_support::TemporaryDirectory outside("integrity-outside");
  WriteFile(outside.path() / "kit/inner/tool", "t");
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  std::filesystem::rename(outside.path() / "kit", Path("lib/kit"));
  auto batch =
      DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "lib/kit/inner/tool"); });
  EXPECT_TRUE(Contains(batch, "lib/kit/inner/tool"));
  WriteFile(Path("lib/kit/inner/later"), "l");
  batch =
      DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "lib/kit/inner/later"); });
  EXPECT_TRUE(Contains(batch, "lib/kit/inner/later"));
}

TEST_P(WatcherTest, MovingADirectoryAsksForAFullScanAndItIsWatchedUnderItsNewName) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  std::filesystem::rename(Path("share"), Path("elsewhere"));
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return b.full_scan_needed; });
  EXPECT_TRUE(batch.full_scan_needed);
  WriteFile(Path("elsewhere/deep/a/new"), "n");
  batch =
      DrainUntil(*watcher, [](const WatchBatch& b) { return Contains(b, "elsewhere/deep/a/new"); });
  EXPECT_TRUE(Contains(batch, "elsewhere/deep/a/new"));
}

TEST_P(WatcherTest, RemovingADirectoryAsksForAFullScan) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  std::filesystem::remove_all(Path("share"));
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return b.full_scan_needed; });
  EXPECT_TRUE(batch.full_scan_needed);
}

TEST_P(WatcherTest, RemovingTheRootAsksForAFullScan) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  std::filesystem::remove_all(directory_.path());
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return b.full_scan_needed; });
  EXPECT_TRUE(batch.full_scan_needed);
}

// Only the root's own event says so (its parent is outside the tree).
TEST_P(WatcherTest, MovingTheRootAsksForAFullScan) {
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  auto moved = directory_.path().string() + "-moved";
  std::filesystem::rename(directory_.path(), moved);
  auto batch = DrainUntil(*watcher, [](const WatchBatch& b) { return b.full_scan_needed; });
  std::filesystem::rename(moved, directory_.path());  // for the clean-up
  EXPECT_TRUE(batch.full_scan_needed);
}

// An event storm beyond the kernel's queue (16384 events by default for both fanotify and
// fs.inotify.max_queued_events), written without draining: the overflow is reported, and the
// full scan it asks for finds every change. Distinct names, because both kernels merge an
// event into an identical one still queued.
TEST_P(WatcherTest, QueueOverflowAsksForAFullScanThatFindsEverything) {
  auto manifest = WriteRelease(directory_.path(), SampleFiles());
  auto watcher = StartWatcher();
  ASSERT_TRUE(watcher);
  for (int i = 0; i < 20'000; ++i) {
    auto path = Path("lib/storm-" + std::to_string(i));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
  WriteFile(Path("bin/run"), "tampered during the storm", 0755);
  auto batch = DrainUntil(*watcher, [](const WatchBatch& w) { return w.full_scan_needed; });
  ASSERT_TRUE(batch.full_scan_needed);
  auto records = ScanTree(directory_.path());
  ASSERT_TRUE(records);
  auto snapshot = MakeSnapshot(manifest, std::move(*records), {});
  ASSERT_EQ(snapshot.differences.size(), 1u);
  EXPECT_EQ(snapshot.differences[0].path, "bin/run");
}

INSTANTIATE_TEST_SUITE_P(Backends, WatcherTest,
                         ::testing::Values(WatcherBackend::kFanotify, WatcherBackend::kInotify),
                         [](const ::testing::TestParamInfo<WatcherBackend>& parameter) {
                           return std::string(WatcherBackendName(parameter.param));
                         });

TEST(WatcherChoiceTest, ForcingInotifyWorks) {
  test_support::TemporaryDirectory directory("integrity-watch");
  WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path(), WatcherBackend::kInotify);
  ASSERT_TRUE(watcher) << watcher.error().ToString();
  EXPECT_EQ((*watcher)->backend(), "inotify");
  EXPECT_EQ((*watcher)->fallback_reason(), "");
}

TEST(WatcherChoiceTest, TheAutomaticChoiceIsFanotifyWhenPrivileged) {
  test_support::TemporaryDirectory directory("integrity-watch");
  WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path());
  ASSERT_TRUE(watcher) << watcher.error().ToString();
  if (std::string reason = FanotifyUnavailable(); !reason.empty()) {
    // The fallback runs, and says why.
    EXPECT_EQ((*watcher)->backend(), "inotify");
    EXPECT_NE((*watcher)->fallback_reason().find("fanotify"), std::string::npos);
    GTEST_SKIP() << reason;
  }
  EXPECT_EQ((*watcher)->backend(), "fanotify") << (*watcher)->fallback_reason();
  EXPECT_EQ((*watcher)->fallback_reason(), "");
}

TEST(WatcherChoiceTest, AMissingRootFailsWithEitherBackEnd) {
  for (auto backend : {WatcherBackend::kAutomatic, WatcherBackend::kInotify}) {
    auto watcher = Watcher::Start("/nonexistent/vigil-watch-root", backend);
    EXPECT_FALSE(watcher) << WatcherBackendName(backend);
  }
}

TEST(WatcherChoiceTest, BackendNamesRoundTrip) {
  for (auto backend :
       {WatcherBackend::kAutomatic, WatcherBackend::kFanotify, WatcherBackend::kInotify}) {
    EXPECT_EQ(ParseWatcherBackend(WatcherBackendName(backend)), backend);
  }
  EXPECT_EQ(ParseWatcherBackend("dnotify"), std::nullopt);
}

}  // namespace
}  // namespace vigil::integrity
