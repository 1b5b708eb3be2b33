// The inotify watcher on a real tree: every kind of change reported as a path, new
// directories watched, directory removal and queue overflow reported as "full scan needed".
#include "integrity/watcher.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "integrity/scanner.h"
#include "integrity/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::integrity {
namespace {

using testing::SampleFiles;
using testing::WriteFile;
using testing::WriteRelease;

// Drains until `done(batch so far)` or 2 s pass.
template <typename Done>
WatchBatch DrainUntil(Watcher& watcher, Done done) {
  WatchBatch all;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
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

TEST(WatcherTest, EveryKindOfChangeIsReportedAsAPath) {
  test_support::TemporaryDirectory directory("integrity-watch");
  WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path());
  ASSERT_TRUE(watcher) << watcher.error().ToString();
  EXPECT_EQ((*watcher)->watched_directories(), 9u);  // root, bin, etc, lib, share, deep, a, b, c
  WriteFile(directory.path() / "etc/config.toml", "speed = 300\n");
  ASSERT_EQ(::chmod((directory.path() / "lib/empty").c_str(), 0666), 0);
  std::filesystem::remove(directory.path() / "bin/run");
  std::filesystem::rename(directory.path() / "lib/big.bin", directory.path() / "lib/moved.bin");
  WriteFile(directory.path() / "share/deep/a/b/c/implant", "x");
  auto batch = DrainUntil(**watcher, [](const WatchBatch& b) { return b.paths.size() >= 6; });
  EXPECT_FALSE(batch.full_scan_needed);
  for (const char* path : {"etc/config.toml", "lib/empty", "bin/run", "lib/big.bin",
                           "lib/moved.bin", "share/deep/a/b/c/implant"}) {
    EXPECT_TRUE(Contains(batch, path)) << path;
  }
}

TEST(WatcherTest, ANewDirectoryIsWatchedAndItsFilesReported) {
  test_support::TemporaryDirectory directory("integrity-watch");
  WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path());
  ASSERT_TRUE(watcher);
  WriteFile(directory.path() / "new/sub/early", "e");
  auto batch =
      DrainUntil(**watcher, [](const WatchBatch& b) { return Contains(b, "new/sub/early"); });
  EXPECT_TRUE(Contains(batch, "new/sub/early"));
  WriteFile(directory.path() / "new/sub/late", "l");
  batch = DrainUntil(**watcher, [](const WatchBatch& b) { return Contains(b, "new/sub/late"); });
  EXPECT_TRUE(Contains(batch, "new/sub/late"));
}

TEST(WatcherTest, RemovingADirectoryAsksForAFullScan) {
  test_support::TemporaryDirectory directory("integrity-watch");
  WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path());
  ASSERT_TRUE(watcher);
  std::filesystem::rename(directory.path() / "share", directory.path() / "elsewhere");
  auto batch = DrainUntil(**watcher, [](const WatchBatch& b) { return b.full_scan_needed; });
  EXPECT_TRUE(batch.full_scan_needed);
}

// An event storm beyond the kernel's queue (fs.inotify.max_queued_events, 16384 by default):
// the overflow is reported, and the full scan it asks for finds every change.
TEST(WatcherTest, QueueOverflowAsksForAFullScanThatFindsEverything) {
  test_support::TemporaryDirectory directory("integrity-watch");
  auto manifest = WriteRelease(directory.path(), SampleFiles());
  auto watcher = Watcher::Start(directory.path());
  ASSERT_TRUE(watcher);
  // Alternating chmods: consecutive identical events are merged by the kernel, these are not.
  auto a = directory.path() / "lib/empty";
  auto b = directory.path() / "etc/config.toml";
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(::chmod(a.c_str(), 0600), 0);
    ASSERT_EQ(::chmod(b.c_str(), 0644), 0);
  }
  WriteFile(directory.path() / "bin/run", "tampered during the storm", 0755);
  auto batch = DrainUntil(**watcher, [](const WatchBatch& w) { return w.full_scan_needed; });
  ASSERT_TRUE(batch.full_scan_needed);
  auto records = ScanTree(directory.path());
  ASSERT_TRUE(records);
  auto snapshot = MakeSnapshot(manifest, std::move(*records), {});
  ASSERT_EQ(snapshot.differences.size(), 1u);
  EXPECT_EQ(snapshot.differences[0].path, "bin/run");
}

}  // namespace
}  // namespace vigil::integrity
