// The agent's integrity monitor with real files, a real watcher and a real supervised app:
// modify, truncate, chmod, delete, add, replace with a link, replace the running binary,
// tamper while the agent is down, an event storm beyond the kernel's queue, a tampered
// pristine store; each detected, repaired (or not, by policy) and reported.
#include "agent/integrity_monitor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "agent/slots.h"
#include "common/file.h"
#include "crypto/crypto.h"
#include "release/bundle.h"
#include "integrity/test_tree.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

using integrity::testing::ReadText;
using integrity::testing::TreeFile;
using integrity::testing::WriteFile;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using ledger::DeviceReportKind;

constexpr char kApp[] = "press-control";
constexpr char kSlot[] = "1.0.0-0123456789ab";

std::string Bytes(const std::filesystem::path& path) { return ReadText(path); }

class IntegrityMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override { Install(SampleTree()); }

  static std::map<std::string, TreeFile> SampleTree() {
    return {{"bin/run", {"#!/bin/sh\nexec sleep 100\n", 0755}},
            {"etc/config.toml", {"speed = 3\n", 0644}},
            {"lib/data.bin", {std::string(64 * 1024, 'd'), 0644}},
            {"share/note.txt", {"note\n", 0444}}};
  }

  void Install(const std::map<std::string, TreeFile>& files, std::vector<std::string> entry = {}) {
    AppLayout layout(directory_.path(), kApp);
    ASSERT_TRUE(layout.Create());
    manifest_ = integrity::testing::WriteRelease(layout.slot(kSlot), files);
    if (!entry.empty()) manifest_.entry = std::move(entry);
    ASSERT_TRUE(
        WriteFileAtomically(layout.manifest(kSlot), release::EncodeManifest(manifest_), 0644));
    ASSERT_TRUE(SwitchLink(layout.current(), kSlot));
  }

  std::filesystem::path Slot() const { return AppLayout(directory_.path(), kApp).slot(kSlot); }

  IntegrityMonitorOptions Options(IntegrityPolicy policy = IntegrityPolicy::kRepair) {
    IntegrityMonitorOptions options;
    options.root = directory_.path();
    options.default_policy = policy;
    options.coalesce_window = milliseconds(10);
    options.burst_interval_min = milliseconds(30);
    options.burst_interval_max = milliseconds(120);
    return options;
  }

  void StartApp() {
    AppLayout layout(directory_.path(), kApp);
    SupervisorOptions options;
    options.log_path = layout.log();
    options.pid_path = layout.pid();
    options.stop_grace_period = milliseconds(300);
    supervisor_ = std::make_unique<Supervisor>(io_context_, options, [](const CrashReport&) {});
    ASSERT_TRUE(supervisor_->Start({.directory = std::filesystem::absolute(Slot()),
                                    .argv = manifest_.entry,
                                    .environment = AppEnvironment(layout, "1.0.0", kSlot)}));
  }

  void StartMonitor(
      IntegrityMonitorOptions options,
      std::function<void(const std::string&, const std::string&)> request_release = nullptr) {
    IntegrityMonitorHooks hooks;
    hooks.request_release = std::move(request_release);
    hooks.sink = [this](const ledger::DeviceReport& report, std::function<void()> accepted) {
      reports_.push_back(report);
      accepted();
    };
    hooks.supervisor = [this](const std::string&) { return supervisor_.get(); };
    hooks.settled = [this](const std::string&) { return settled_; };
    monitor_ = std::make_unique<IntegrityMonitor>(io_context_, std::move(options), hooks);
    ASSERT_TRUE(monitor_->Start());
  }

  bool RunUntil(const std::function<bool()>& condition, milliseconds limit = milliseconds(10'000)) {
    auto deadline = Clock::now() + limit;
    while (!condition()) {
      if (Clock::now() > deadline) return false;
      io_context_.run_for(milliseconds(5));
      io_context_.restart();
    }
    return true;
  }
  void RunFor(milliseconds duration) {
    RunUntil([] { return false; }, duration);
  }

  size_t Count(DeviceReportKind kind) const {
    return static_cast<size_t>(
        std::ranges::count(reports_, kind, &ledger::DeviceReport::report_kind));
  }
  const ledger::DeviceReport& Last(DeviceReportKind kind) const {
    for (auto it = reports_.rbegin(); it != reports_.rend(); ++it) {
      if (it->report_kind == kind) return *it;
    }
    ADD_FAILURE() << "no report of kind " << ledger::DeviceReportKindName(kind);
    return reports_.front();
  }
  // Tampers, waits for the repair, checks the reports and that the tree is the release again.
  void ExpectRepaired(const std::function<void()>& tamper, const std::string& expected_detail) {
    size_t repaired_before = Count(DeviceReportKind::kRepaired);
    tamper();
    ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kRepaired) > repaired_before; }))
        << expected_detail;
    const auto& tamper_report = Last(DeviceReportKind::kTamperDetected);
    EXPECT_NE(tamper_report.detail.find(expected_detail), std::string::npos)
        << tamper_report.detail;
    EXPECT_GE(tamper_report.files_changed, 1u);
    ASSERT_TRUE(tamper_report.snapshot_root.has_value());
    EXPECT_NE(*tamper_report.snapshot_root, release::ManifestRoot(manifest_));
    EXPECT_EQ(tamper_report.app, kApp);
    EXPECT_EQ(tamper_report.version, "1.0.0");
    const auto& repaired = Last(DeviceReportKind::kRepaired);
    ASSERT_TRUE(repaired.snapshot_root.has_value());
    EXPECT_EQ(*repaired.snapshot_root, release::ManifestRoot(manifest_)) << repaired.detail;
    EXPECT_NE(repaired.detail.find("clean"), std::string::npos) << repaired.detail;
    EXPECT_EQ(repaired.detail.find("incomplete"), std::string::npos) << repaired.detail;
    auto records = integrity::ScanTree(Slot());
    ASSERT_TRUE(records);
    EXPECT_TRUE(integrity::MakeSnapshot(manifest_, *records, {}).Clean());
  }

  test_support::TemporaryDirectory directory_{"vigil-integrity-monitor"};
  asio::io_context io_context_;
  release::Manifest manifest_;
  bool settled_ = true;  // what the updater says: false while it switches releases
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<IntegrityMonitor> monitor_;
  std::vector<ledger::DeviceReport> reports_;
};

TEST_F(IntegrityMonitorTest, StartReportsACleanSnapshotAndStoresPristineCopies) {
  StartMonitor(Options());
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].report_kind, DeviceReportKind::kIntegritySnapshot);
  EXPECT_EQ(reports_[0].snapshot_root, release::ManifestRoot(manifest_));
  EXPECT_EQ(reports_[0].files_changed, 0u);
  EXPECT_NE(reports_[0].detail.find("clean"), std::string::npos);
  for (const auto& file : manifest_.files) {
    EXPECT_TRUE(std::filesystem::exists(monitor_->pristine_directory() / ToHex(file.sha256)))
        << file.path;
  }
  EXPECT_TRUE(monitor_->watching(kApp));
}

// Started while the updater is still switching (the slot became `current` before the app
// started): the first scan waits, and so does the snapshot — it used to be sent at once from
// no records, telling the ledger every file was missing.
TEST_F(IntegrityMonitorTest, TheFirstSnapshotWaitsForTheFirstScan) {
  settled_ = false;
  StartMonitor(Options());
  RunFor(milliseconds(300));
  EXPECT_EQ(Count(DeviceReportKind::kIntegritySnapshot), 0u);
  settled_ = true;
  ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kIntegritySnapshot) == 1; }));
  const auto& snapshot = Last(DeviceReportKind::kIntegritySnapshot);
  EXPECT_EQ(snapshot.files_changed, 0u) << snapshot.detail;
  ASSERT_TRUE(snapshot.snapshot_root.has_value());
  EXPECT_EQ(*snapshot.snapshot_root, release::ManifestRoot(manifest_));
  EXPECT_NE(snapshot.detail.find("watching 1.0.0; clean"), std::string::npos) << snapshot.detail;
}

TEST_F(IntegrityMonitorTest, EveryKindOfTamperingIsDetectedRepairedAndReported) {
  StartMonitor(Options());
  const auto slot = Slot();
  ExpectRepaired([&] { WriteFile(slot / "etc/config.toml", "speed = 99\n", 0644); },
                 "modified content: etc/config.toml");
  EXPECT_EQ(Bytes(slot / "etc/config.toml"), "speed = 3\n");
  ExpectRepaired([&] { ASSERT_EQ(::truncate((slot / "lib/data.bin").c_str(), 10), 0); },
                 "lib/data.bin");
  EXPECT_EQ(std::filesystem::file_size(slot / "lib/data.bin"), 64u * 1024);
  ExpectRepaired([&] { ASSERT_EQ(::chmod((slot / "share/note.txt").c_str(), 0666), 0); },
                 "mode: share/note.txt");
  struct stat info {};
  ASSERT_EQ(::stat((slot / "share/note.txt").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0444u);
  ExpectRepaired([&] { std::filesystem::remove(slot / "lib/data.bin"); }, "removed: lib/data.bin");
  EXPECT_TRUE(std::filesystem::exists(slot / "lib/data.bin"));
  ExpectRepaired([&] { WriteFile(slot / "lib/implant.so", "evil", 0755); },
                 "added: lib/implant.so");
  EXPECT_FALSE(std::filesystem::exists(slot / "lib/implant.so"));
  ExpectRepaired(
      [&] {
        std::filesystem::remove(slot / "etc/config.toml");
        std::filesystem::create_symlink("/etc/passwd", slot / "etc/config.toml");
      },
      "etc/config.toml");
  EXPECT_FALSE(std::filesystem::is_symlink(slot / "etc/config.toml"));
  EXPECT_EQ(Bytes(slot / "etc/config.toml"), "speed = 3\n");
  // The same file again: the report says how often.
  ExpectRepaired([&] { WriteFile(slot / "etc/config.toml", "speed = 100\n", 0644); },
                 "etc/config.toml (3rd time)");
  EXPECT_GE(monitor_->counters().files_repaired, 7u);
}

TEST_F(IntegrityMonitorTest, ReplacedRunningBinaryIsRepairedAndTheAppRestarted) {
  // A real ELF binary, so /proc/PID/exe is inside the slot.
  std::ifstream sleep_binary("/bin/sleep", std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(sleep_binary)), {});
  ASSERT_FALSE(image.empty());
  auto files = SampleTree();
  files["bin/app"] = {image, 0755};
  Install(files, {"bin/app", "100"});
  StartApp();
  StartMonitor(Options());
  pid_t before = 0;
  ASSERT_TRUE(RunUntil([&] {
    std::ifstream pid_file(AppLayout(directory_.path(), kApp).pid());
    return static_cast<bool>(pid_file >> before) && before > 0;
  }));
  // The attacker's usual way around ETXTBSY: a new file renamed over the running one.
  ExpectRepaired(
      [&] {
        WriteFile(Slot() / "bin/app.new", "#!/bin/sh\nexec sleep 200\n", 0755);
        std::filesystem::rename(Slot() / "bin/app.new", Slot() / "bin/app");
      },
      "modified content: bin/app");
  EXPECT_NE(Last(DeviceReportKind::kRepaired).detail.find("app restarted"), std::string::npos);
  pid_t after = 0;
  ASSERT_TRUE(RunUntil([&] {
    std::ifstream pid_file(AppLayout(directory_.path(), kApp).pid());
    return static_cast<bool>(pid_file >> after) && after > 0 && after != before &&
           supervisor_->running();
  }));
  auto check = integrity::CheckProcessExecutable(after, Slot(), manifest_);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->matches) << check->reason;
  EXPECT_FALSE(check->deleted);
  EXPECT_EQ(monitor_->counters().restarts, 1u);
}

// What the app writes goes to its data directory ($VIGIL_APP_DATA), which no release holds and
// the monitor does not watch: no tamper report, nothing deleted, the slot stays clean.
TEST_F(IntegrityMonitorTest, WhatTheAppWritesInItsDataDirectoryIsNotTampering) {
  auto files = SampleTree();
  files["bin/run"] = {"#!/bin/sh\n"
                      "i=0\n"
                      "while true; do\n"
                      "  echo \"$i\" > \"$VIGIL_APP_DATA/counter.tmp\"\n"
                      "  mv \"$VIGIL_APP_DATA/counter.tmp\" \"$VIGIL_APP_DATA/counter\"\n"
                      "  i=$((i+1)); sleep 0.01\n"
                      "done\n",
                      0755};
  Install(files);
  StartApp();
  StartMonitor(Options());
  const auto counter = AppLayout(directory_.path(), kApp).data() / "counter";
  ASSERT_TRUE(RunUntil([&] { return std::filesystem::exists(counter); }));
  std::string first = ReadText(counter);
  RunFor(milliseconds(300));
  EXPECT_EQ(Count(DeviceReportKind::kTamperDetected), 0u);
  EXPECT_NE(ReadText(counter), first);  // the app went on writing
  EXPECT_TRUE(supervisor_->running());
  auto records = integrity::ScanTree(Slot());
  ASSERT_TRUE(records);
  EXPECT_TRUE(integrity::MakeSnapshot(manifest_, *records, {}).Clean());
}

TEST_F(IntegrityMonitorTest, TamperingWhileTheAgentIsDownIsFoundByTheStartUpScan) {
  StartMonitor(Options());  // stores the pristine copies
  monitor_.reset();
  WriteFile(Slot() / "etc/config.toml", "speed = 1000\n", 0644);
  std::filesystem::remove(Slot() / "share/note.txt");
  reports_.clear();
  StartMonitor(Options());
  ASSERT_EQ(Count(DeviceReportKind::kTamperDetected), 1u);
  const auto& tamper = Last(DeviceReportKind::kTamperDetected);
  EXPECT_EQ(tamper.files_changed, 2u);
  EXPECT_NE(tamper.detail.find("2 changes"), std::string::npos) << tamper.detail;
  EXPECT_NE(tamper.detail.find("removed: share/note.txt"), std::string::npos) << tamper.detail;
  ASSERT_EQ(Count(DeviceReportKind::kRepaired), 1u);
  EXPECT_EQ(Last(DeviceReportKind::kRepaired).files_changed, 2u);
  EXPECT_EQ(Last(DeviceReportKind::kRepaired).snapshot_root, release::ManifestRoot(manifest_));
  EXPECT_EQ(Bytes(Slot() / "etc/config.toml"), "speed = 3\n");
  EXPECT_EQ(Bytes(Slot() / "share/note.txt"), "note\n");
  // The start-up snapshot follows the repair, and is clean.
  EXPECT_EQ(reports_.back().report_kind, DeviceReportKind::kIntegritySnapshot);
  EXPECT_EQ(reports_.back().snapshot_root, release::ManifestRoot(manifest_));
}

TEST_F(IntegrityMonitorTest, EventStormBeyondTheKernelQueueEndsInAFullScanThatRepairs) {
  StartMonitor(Options());
  const uint64_t scans_before = monitor_->counters().full_scans;
  // Distinct names: both fanotify and inotify merge an event into an identical one still
  // queued (fanotify even when others came between), so repeated chmods may never overflow.
  for (int i = 0; i < 20000; ++i) {
    auto path = Slot() / ("lib/storm-" + std::to_string(i));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
  WriteFile(Slot() / "bin/run", "#!/bin/sh\necho tampered during the storm\n", 0755);
  ASSERT_TRUE(RunUntil([&] {
    return Count(DeviceReportKind::kRepaired) >= 1 &&
           Bytes(Slot() / "bin/run") == "#!/bin/sh\nexec sleep 100\n";
  }));
  EXPECT_GT(monitor_->counters().full_scans, scans_before);
  RunFor(milliseconds(300));
  // One burst, not thousands of reports.
  EXPECT_LE(Count(DeviceReportKind::kTamperDetected), 2u);
  EXPECT_NE(Last(DeviceReportKind::kTamperDetected).detail.find("bin/run"), std::string::npos);
}

TEST_F(IntegrityMonitorTest, ATamperingLoopDoesNotStormTheLedger) {
  StartMonitor(Options());
  auto start = Clock::now();
  int writes = 0;
  while (Clock::now() - start < milliseconds(1500)) {
    WriteFile(Slot() / "etc/config.toml", "loop " + std::to_string(writes++) + "\n", 0644);
    io_context_.run_for(milliseconds(2));
    io_context_.restart();
  }
  RunFor(milliseconds(200));
  // Spacing 30, 60, 120, 120... ms: about 15 bursts in 1.5 s, whatever the number of writes.
  EXPECT_GT(writes, 100);
  EXPECT_LE(Count(DeviceReportKind::kTamperDetected), 20u);
  EXPECT_GE(Count(DeviceReportKind::kTamperDetected), 3u);
  EXPECT_NE(Last(DeviceReportKind::kTamperDetected).detail.find("time)"), std::string::npos);
}

TEST_F(IntegrityMonitorTest, ATamperedPristineCopyIsNeverInstalledAndTheReportSaysNeedsFetch) {
  StartMonitor(Options());
  const auto* entry = &manifest_.files[0];
  for (const auto& file : manifest_.files) {
    if (file.path == "etc/config.toml") entry = &file;
  }
  auto copy = monitor_->pristine_directory() / ToHex(entry->sha256);
  ASSERT_EQ(::chmod(copy.c_str(), 0600), 0);
  WriteFile(copy, "speed = 66\n", 0600);
  WriteFile(Slot() / "etc/config.toml", "speed = 77\n", 0644);
  ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kRepaired) >= 1; }));
  const auto& repaired = Last(DeviceReportKind::kRepaired);
  EXPECT_NE(repaired.detail.find("incomplete"), std::string::npos) << repaired.detail;
  EXPECT_NE(repaired.detail.find("needs fetch"), std::string::npos) << repaired.detail;
  EXPECT_NE(repaired.detail.find("etc/config.toml"), std::string::npos) << repaired.detail;
  EXPECT_NE(repaired.snapshot_root, release::ManifestRoot(manifest_));
  EXPECT_EQ(Bytes(Slot() / "etc/config.toml"), "speed = 77\n");  // the damaged copy stayed out
  EXPECT_EQ(monitor_->counters().needs_fetch, 1u);
}

// The pristine copy is damaged too: the monitor asks for the release again, and its bundle (as
// the gateway offers it, checked by the session against the ledger) renews the copies, after
// which the repair completes — without a second `tamper detected` for the same change.
TEST_F(IntegrityMonitorTest, ADamagedPristineCopyIsFetchedAgainAsTheBundleAndTheRepairCompletes) {
  // The release as a real bundle, installed with the agent's own code.
  std::filesystem::path source = directory_.path() / "source";
  for (const auto& [path, file] : SampleTree()) WriteFile(source / path, file.contents, file.mode);
  std::filesystem::path bundle = directory_.path() / "press-control-1.0.0.vigil";
  auto built = release::BuildBundle(
      source, {.app = kApp, .version = "1.0.0", .entry = {"bin/run"}, .health = {}, .hooks = {}},
      bundle);
  ASSERT_TRUE(built) << built.error().ToString();
  AppLayout layout(directory_.path(), kApp);
  ASSERT_TRUE(DeleteSlot(layout, kSlot));
  auto installed = InstallSlot(layout, kSlot, bundle, built->manifest_root);
  ASSERT_TRUE(installed) << installed.error().ToString();
  manifest_ = installed->manifest;

  std::vector<std::pair<std::string, std::string>> requested;
  StartMonitor(Options(), [&](const std::string& app, const std::string& version) {
    requested.emplace_back(app, version);
  });
  const release::FileEntry* config = nullptr;
  for (const auto& file : manifest_.files) {
    if (file.path == "etc/config.toml") config = &file;
  }
  ASSERT_NE(config, nullptr);
  auto copy = monitor_->pristine_directory() / ToHex(config->sha256);
  ASSERT_EQ(::chmod(copy.c_str(), 0600), 0);
  WriteFile(copy, "speed = 66\n", 0600);
  WriteFile(Slot() / "etc/config.toml", "speed = 77\n", 0644);
  ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kRepaired) >= 1; }));
  EXPECT_NE(Last(DeviceReportKind::kRepaired).detail.find("needs fetch (requested from the gateway)"),
            std::string::npos)
      << Last(DeviceReportKind::kRepaired).detail;
  ASSERT_EQ(requested, (std::vector<std::pair<std::string, std::string>>{{kApp, "1.0.0"}}));

  // Only the active release's bundle is taken.
  Status other = monitor_->RestoreFromBundle(kApp, "1.0.1", built->manifest_root, bundle);
  EXPECT_FALSE(other);
  ASSERT_TRUE(monitor_->RestoreFromBundle(kApp, "1.0.0", built->manifest_root, bundle));
  ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kRepaired) >= 2; }));
  const auto& repaired = Last(DeviceReportKind::kRepaired);
  EXPECT_NE(repaired.detail.find("fetched again from the gateway"), std::string::npos)
      << repaired.detail;
  EXPECT_NE(repaired.detail.find("clean"), std::string::npos) << repaired.detail;
  EXPECT_EQ(repaired.detail.find("incomplete"), std::string::npos) << repaired.detail;
  ASSERT_TRUE(repaired.snapshot_root.has_value());
  EXPECT_EQ(*repaired.snapshot_root, release::ManifestRoot(manifest_));
  EXPECT_EQ(Bytes(Slot() / "etc/config.toml"), "speed = 3\n");
  auto renewed = crypto::Sha256OfFile(copy);
  ASSERT_TRUE(renewed);
  EXPECT_EQ(*renewed, config->sha256);
  EXPECT_EQ(Count(DeviceReportKind::kTamperDetected), 1u);
  EXPECT_EQ(monitor_->counters().bundles_refetched, 1u);
  EXPECT_FALSE(std::filesystem::exists(layout.slot(std::string("refetch-") + kSlot)));
}

TEST_F(IntegrityMonitorTest, AlertOnlyReportsOnceAndLeavesTheFiles) {
  StartMonitor(Options(IntegrityPolicy::kAlertOnly));
  WriteFile(Slot() / "etc/config.toml", "speed = 5\n", 0644);
  ASSERT_TRUE(RunUntil([&] { return Count(DeviceReportKind::kTamperDetected) == 1; }));
  ::utimensat(AT_FDCWD, (Slot() / "etc/config.toml").c_str(), nullptr, 0);  // same state, new event
  RunFor(milliseconds(300));
  EXPECT_EQ(Count(DeviceReportKind::kTamperDetected), 1u);
  EXPECT_EQ(Count(DeviceReportKind::kRepaired), 0u);
  EXPECT_NE(Last(DeviceReportKind::kTamperDetected).detail.find("[alert-only]"), std::string::npos);
  EXPECT_EQ(Bytes(Slot() / "etc/config.toml"), "speed = 5\n");
}

TEST_F(IntegrityMonitorTest, QuarantineStopsTheAppUntilTheTreeIsCleanAgain) {
  StartApp();
  StartMonitor(Options(IntegrityPolicy::kQuarantine));
  ASSERT_TRUE(supervisor_->running());
  WriteFile(Slot() / "etc/config.toml", "speed = 5\n", 0644);
  ASSERT_TRUE(RunUntil([&] { return !supervisor_->running() && monitor_->quarantined(kApp); }));
  EXPECT_NE(Last(DeviceReportKind::kTamperDetected).detail.find("quarantine"), std::string::npos);
  EXPECT_EQ(Count(DeviceReportKind::kRepaired), 0u);
  RunFor(milliseconds(200));
  EXPECT_FALSE(supervisor_->running());
  // An operator puts the file back: the app runs again.
  WriteFile(Slot() / "etc/config.toml", "speed = 3\n", 0644);
  ASSERT_TRUE(RunUntil([&] { return supervisor_->running() && !monitor_->quarantined(kApp); }));
  EXPECT_NE(reports_.back().detail.find("quarantine lifted"), std::string::npos);
  EXPECT_EQ(reports_.back().snapshot_root, release::ManifestRoot(manifest_));
}

TEST_F(IntegrityMonitorTest, StoreIsPrunedOfCopiesNoSlotNeeds) {
  StartMonitor(Options());
  auto stale = monitor_->pristine_directory() / std::string(64, 'a');
  WriteFile(stale, "old release", 0400);
  auto other = monitor_->pristine_directory() / "not-a-digest";
  WriteFile(other, "left alone", 0400);
  monitor_->Refresh();
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(monitor_->pristine_directory()),
                          std::filesystem::directory_iterator{}),
            static_cast<long>(manifest_.files.size()) + 1);
}

// --- The pure decisions ---

TEST(IntegrityDecisionTest, DescribeTamperIsBoundedAndCountsRepeats) {
  std::vector<integrity::Difference> differences;
  for (int i = 0; i < 200; ++i) {
    differences.push_back({.kind = integrity::DifferenceKind::kAdded,
                           .path = "tmp/file-" + std::to_string(i),
                           .aspects = 0,
                           .expected = std::nullopt,
                           .actual = std::nullopt});
  }
  TamperCounts counts{{"tmp/file-0", 2}};
  std::string text = DescribeTamper(differences, counts, 300);
  EXPECT_LE(text.size(), 300u);
  EXPECT_TRUE(text.starts_with("200 changes: added: tmp/file-0 (2nd time); added: tmp/file-1"))
      << text;
  EXPECT_NE(text.find(" more"), std::string::npos) << text;
  EXPECT_EQ(DescribeTamper({differences[5]}, {}, 300), "1 change: added: tmp/file-5");
}

TEST(IntegrityDecisionTest, RestartOnlyForWhatTheAppRunsFrom) {
  release::Manifest manifest;
  manifest.entry = {"./bin/app", "--config", "conf/settings"};
  auto modified = [](std::string path, uint8_t aspects) {
    return integrity::Difference{.kind = integrity::DifferenceKind::kModified,
                                 .path = std::move(path),
                                 .aspects = aspects,
                                 .expected = std::nullopt,
                                 .actual = std::nullopt};
  };
  EXPECT_TRUE(NeedsRestart(manifest, {modified("bin/app", integrity::kAspectMode)}));
  EXPECT_TRUE(NeedsRestart(manifest, {modified("conf/settings", integrity::kAspectContent)}));
  EXPECT_TRUE(NeedsRestart(manifest, {modified("etc/a.toml", integrity::kAspectContent)}));
  EXPECT_TRUE(NeedsRestart(manifest, {modified("share/x.yaml", integrity::kAspectContent)}));
  EXPECT_FALSE(NeedsRestart(manifest, {modified("etc/a.toml", integrity::kAspectMode)}));
  EXPECT_FALSE(NeedsRestart(manifest, {modified("share/doc.txt", integrity::kAspectContent)}));
  auto added = modified("bin/app", 0);
  added.kind = integrity::DifferenceKind::kAdded;
  EXPECT_FALSE(NeedsRestart(manifest, {added}));
}

TEST(IntegrityDecisionTest, BurstSpacingDoublesWhileTamperingGoesOnAndResetsAfterQuiet) {
  const milliseconds min(1000), max(60'000);
  EXPECT_EQ(NextBurstInterval(milliseconds(1000), milliseconds(1500), min, max),
            milliseconds(2000));
  EXPECT_EQ(NextBurstInterval(milliseconds(2000), milliseconds(2100), min, max),
            milliseconds(4000));
  EXPECT_EQ(NextBurstInterval(milliseconds(40'000), milliseconds(40'000), min, max), max);
  EXPECT_EQ(NextBurstInterval(milliseconds(4000), milliseconds(8000), min, max), min);
}

TEST(IntegrityDecisionTest, PolicyNamesRoundTrip) {
  for (auto policy :
       {IntegrityPolicy::kRepair, IntegrityPolicy::kAlertOnly, IntegrityPolicy::kQuarantine}) {
    auto parsed = ParseIntegrityPolicy(IntegrityPolicyName(policy));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, policy);
  }
  EXPECT_FALSE(ParseIntegrityPolicy("ignore"));
}

}  // namespace
}  // namespace vigil::agent

namespace vigil::agent {
namespace {

TEST(IntegrityConfigTest, DefaultsPoliciesIntervalsAndRefusals) {
  auto parse = [](std::string_view text) {
    auto table = config::ParseToml(text);
    EXPECT_TRUE(table);
    return ParseIntegrityConfig(*table);
  };
  auto absent = parse("name = \"d\"\n");
  ASSERT_TRUE(absent);
  ASSERT_TRUE(absent->has_value());
  EXPECT_EQ((*absent)->default_policy, IntegrityPolicy::kRepair);
  EXPECT_EQ((*absent)->snapshot_interval, limits::kAgentIntegritySnapshotInterval);
  auto configured = parse(
      "[integrity]\npolicy = \"alert-only\"\nfull_scan_interval_ms = 60000\n"
      "snapshot_interval_ms = 5000\n[integrity.policies]\npress-control = \"quarantine\"\n");
  ASSERT_TRUE(configured) << configured.error().ToString();
  ASSERT_TRUE(configured->has_value());
  EXPECT_EQ((*configured)->default_policy, IntegrityPolicy::kAlertOnly);
  EXPECT_EQ((*configured)->full_scan_interval, milliseconds(60'000));
  EXPECT_EQ((*configured)->snapshot_interval, milliseconds(5'000));
  EXPECT_EQ((*configured)->policies.at("press-control"), IntegrityPolicy::kQuarantine);
  auto disabled = parse("[integrity]\nenabled = false\n");
  ASSERT_TRUE(disabled);
  EXPECT_FALSE(disabled->has_value());
  EXPECT_FALSE(parse("[integrity]\npolicy = \"ignore\"\n"));
  EXPECT_FALSE(parse("[integrity]\nscan = 1\n"));
  EXPECT_FALSE(parse("[integrity]\nsnapshot_interval_ms = 0\n"));
  EXPECT_FALSE(parse("[integrity.policies]\npress-control = 3\n"));
}

}  // namespace
}  // namespace vigil::agent

namespace vigil::agent {
namespace {

// The `app restarted` report's detail: the crash count and the crash loop are spelled out.
TEST(CrashReportTest, DetailNamesTheCrashCountAndTheCrashLoop) {
  CrashReport report{.exit = {.exit_code = 3, .signal = 0},
                     .uptime = milliseconds(120),
                     .consecutive_crashes = 5,
                     .restart_delay = milliseconds(300'000),
                     .crash_loop = true};
  EXPECT_EQ(report.ToString(),
            "exited with code 3 after 120 ms; crash 5 since the last stable run; restart in "
            "300000 ms (crash loop: restarts slowed down)");
  report.crash_loop = false;
  EXPECT_EQ(report.ToString().find("crash loop"), std::string::npos);
}

}  // namespace
}  // namespace vigil::agent
