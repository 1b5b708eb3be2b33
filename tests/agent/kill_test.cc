// kill -9 of the agent in every updater state, then a restart: `current` names one complete,
// verified slot — the old version or the new one, never a mix — and the app runs exactly that
// version. Also rollbacks on every kind of health-check failure, with their reports.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <map>
#include <thread>

#include <asio/ip/tcp.hpp>

#include "agent/install_hook.h"
#include "agent/slots.h"
#include "agent/updater.h"
#include "agent/updater_runner.h"
#include "common/file.h"
#include "common/limits.h"
#include "release/bundle.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::string ReadText(const fs::path& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Builds the test app: run.sh writes its version where the driver says and sleeps.
// With `hook_body`, hook.sh holds it (for the manifest's install hooks to name).
fs::path BuildApp(const fs::path& work, const std::string& version, const std::string& run_body,
                  release::HealthCheck health, const std::string& check_body = "",
                  release::InstallHooks hooks = {}, const std::string& hook_body = "") {
  fs::path source = work / ("source-" + version + "-" + std::to_string(run_body.size()) +
                            std::to_string(check_body.size()) +
                            std::to_string(health.tcp_port) + "-" +
                            std::to_string(hook_body.size()) + "-" +
                            std::to_string(hooks.pre_activate.size()) +
                            std::to_string(hooks.post_activate.size()));
  fs::create_directories(source / "data");
  std::string run = "#!/bin/sh\n" + run_body + "\n";
  EXPECT_TRUE(WriteFileAtomically(source / "run.sh", AsBytes(run), 0755));
  if (!check_body.empty()) {
    std::string check = "#!/bin/sh\n" + check_body + "\n";
    EXPECT_TRUE(WriteFileAtomically(source / "check.sh", AsBytes(check), 0755));
  }
  if (!hook_body.empty()) {
    std::string hook = "#!/bin/sh\n" + hook_body + "\n";
    EXPECT_TRUE(WriteFileAtomically(source / "hook.sh", AsBytes(hook), 0755));
  }
  // Several files, so a half-unpacked slot would show.
  for (int i = 0; i < 20; ++i) {
    std::string content = version + " file " + std::to_string(i) + std::string(4096, 'x');
    EXPECT_TRUE(WriteFileAtomically(source / "data" / ("f" + std::to_string(i)),
                                    AsBytes(content), 0644));
  }
  fs::path bundle = source.string() + ".vigil";
  auto built = release::BuildBundle(source, {.app = "demo", .version = version,
                                             .entry = {"run.sh"}, .health = std::move(health),
                                             .hooks = std::move(hooks)},
                                    bundle);
  EXPECT_TRUE(built.has_value()) << built.error().ToString();
  return bundle;
}

// Also appends one line per start to $VIGIL_TEST_VERSION_FILE.starts.
std::string RunsAndSleeps(const std::string& version) {
  return "echo " + version + " >> \"$VIGIL_TEST_VERSION_FILE.starts\"\necho " + version +
         " > \"$VIGIL_TEST_VERSION_FILE\"\nexec sleep 600";
}

struct DriverResult {
  bool killed = false;  // SIGKILL (the crash hook)
  int exit_code = -1;
};

// Runs the driver to its end (60 s limit; killed and failed beyond).
DriverResult RunDriver(const fs::path& root, const std::vector<std::string>& arguments,
                       const std::string& crash_at = "") {
  std::vector<std::string> argv_strings = {AGENT_TEST_DRIVER_PATH, "--root", root.string()};
  argv_strings.insert(argv_strings.end(), arguments.begin(), arguments.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    if (crash_at.empty()) {
      ::unsetenv("VIGIL_AGENT_TEST_CRASH_AT");
    } else {
      ::setenv("VIGIL_AGENT_TEST_CRASH_AT", crash_at.c_str(), 1);
    }
    std::vector<char*> argv;
    for (std::string& argument : argv_strings) argv.push_back(argument.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  DriverResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "driver timed out";
      return result;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  result.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The whole check: one complete slot behind `current`, of the expected version, and the app
// ran exactly it (the driver waited for its version file before exiting).
void ExpectOneWholeVersion(const fs::path& root, const std::string& expected_version) {
  AppLayout layout(root, "demo");
  auto current = ReadLink(layout.current());
  ASSERT_TRUE(current.has_value() && current->has_value()) << "no current link";
  auto manifest = LoadSlotManifest(layout, **current);
  ASSERT_TRUE(manifest.has_value()) << manifest.error().ToString();
  auto verified = release::VerifyTree(*manifest, layout.slot(**current));
  EXPECT_TRUE(verified.has_value()) << verified.error().ToString();
  EXPECT_EQ(manifest->version, expected_version);
  std::string running = ReadText(root / "running-version");
  EXPECT_EQ(running, expected_version + "\n");
  auto bytes = ReadFile(layout.record(), limits::kAgentRecordBytesMax);
  ASSERT_TRUE(bytes.has_value());
  auto record = DecodeRecord(*bytes);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->state, UpdaterState::kIdle);
  EXPECT_EQ(record->from.version, expected_version);
  // Garbage collected: nothing but current, previous (and their manifests) is left.
  size_t slots = 0;
  for (const auto& entry : fs::directory_iterator(layout.slots())) {
    if (entry.is_directory()) ++slots;
  }
  EXPECT_LE(slots, 2u);
}

class KillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new test_support::TemporaryDirectory("vigil-kill");
    const fs::path& work = work_->path();
    release::HealthCheck stay_up{.stay_up_seconds = 1, .command = {}, .tcp_port = 0,
                                 .timeout_seconds = 0};
    v1_ = BuildApp(work, "1.0.0", RunsAndSleeps("1.0.0"), stay_up);
    v2_ = BuildApp(work, "2.0.0", RunsAndSleeps("2.0.0"), stay_up);
    release::HealthCheck failing{.stay_up_seconds = 0, .command = {"check.sh"}, .tcp_port = 0,
                                 .timeout_seconds = 2};
    v2_bad_ = BuildApp(work, "2.0.0", RunsAndSleeps("2.0.0"), failing, "exit 1");
    // One root with 1.0.0 installed and running, copied for every case.
    template_root_ = work / "template";
    DriverResult first = RunDriver(template_root_, {"--bundle", v1_.string(), "--activate"});
    ASSERT_EQ(first.exit_code, 0);
  }
  static void TearDownTestSuite() { delete work_; }

  fs::path FreshRoot() {
    fs::path root = work_->path() / ("case-" + std::to_string(counter_++));
    fs::copy(template_root_, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    return root;
  }

  // Crash at `state` while updating to `bundle`, restart, check the outcome.
  void CrashAndRecover(const std::string& state, const fs::path& bundle,
                       const std::string& expected_version) {
    SCOPED_TRACE("crash at " + state);
    fs::path root = FreshRoot();
    DriverResult crashed = RunDriver(root, {"--bundle", bundle.string(), "--activate"}, state);
    ASSERT_TRUE(crashed.killed) << "the driver never reached state " << state
                                << " (exit code " << crashed.exit_code << ")";
    DriverResult recovered = RunDriver(root, {"--activate"});
    ASSERT_EQ(recovered.exit_code, 0);
    ExpectOneWholeVersion(root, expected_version);
  }

  static inline test_support::TemporaryDirectory* work_ = nullptr;
  static inline fs::path v1_, v2_, v2_bad_, template_root_;
  static inline int counter_ = 0;
};

TEST_F(KillTest, TemplateRunsTheFirstVersion) { ExpectOneWholeVersion(template_root_, "1.0.0"); }

// Every state an update that succeeds passes through.
TEST_F(KillTest, CrashInAnyStateOfASuccessfulUpdateEndsOnTheNewVersion) {
  for (const char* state : {"unpacking", "staged", "pre-activating", "stopping-old", "switching",
                            "post-activating", "starting-new", "health-checking", "committing",
                            "idle"}) {
    CrashAndRecover(state, v2_, "2.0.0");
  }
}

// Every state an update that fails its health check passes through (the rollback states are
// reached only this way), the earlier ones included: the new version fails again after the
// restart and the old one is back.
TEST_F(KillTest, CrashInAnyStateOfAFailedUpdateEndsOnTheOldVersion) {
  for (const char* state : {"unpacking", "staged", "pre-activating", "stopping-old", "switching",
                            "post-activating", "starting-new", "health-checking",
                            "rolling-back-stopping",
                            "rolling-back-switching", "rolling-back-starting", "rolled-back",
                            "idle"}) {
    CrashAndRecover(state, v2_bad_, "1.0.0");
  }
}

TEST_F(KillTest, EveryStateIsCovered) {
  // The two lists above together name every state of the table.
  EXPECT_EQ(AllUpdaterStates().size(), 14u);
}

TEST_F(KillTest, RepeatedCrashesInOneStateRollBackInsteadOfLoopingForever) {
  fs::path root = FreshRoot();
  ASSERT_TRUE(RunDriver(root, {"--bundle", v2_.string(), "--activate"}, "starting-new").killed);
  // Each restart re-enters starting-new and dies there again, until the attempts run out.
  for (uint32_t i = 0; i < limits::kAgentStepAttemptsMax; ++i) {
    ASSERT_TRUE(RunDriver(root, {"--activate"}, "starting-new").killed) << i;
  }
  ASSERT_EQ(RunDriver(root, {"--activate"}, "starting-new").exit_code, 0);
  ExpectOneWholeVersion(root, "1.0.0");
  EXPECT_NE(ReadText(root / "reports.log").find("rolled-back 2.0.0 the agent restarted"),
            std::string::npos)
      << ReadText(root / "reports.log");
}

// The agent restarts after a version rolled back and is offered that version again (the
// gateway offers the newest release on every Hello): the record remembers it, so nothing is
// installed and the running version is never stopped for it.
TEST_F(KillTest, ARolledBackVersionIsNotTriedAgainAfterARestart) {
  fs::path root = FreshRoot();
  ASSERT_EQ(RunDriver(root, {"--bundle", v2_bad_.string(), "--activate"}).exit_code, 0);
  ExpectOneWholeVersion(root, "1.0.0");
  auto count = [&](const std::string& needle) {
    std::string text = ReadText(root / "reports.log");
    size_t found = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++found;
    }
    return found;
  };
  ASSERT_EQ(count("installed 2.0.0"), 1u) << ReadText(root / "reports.log");
  ASSERT_EQ(count("rolled-back 2.0.0"), 1u) << ReadText(root / "reports.log");
  std::string starts_before = ReadText(root / "running-version.starts");

  ASSERT_EQ(RunDriver(root, {"--bundle", v2_bad_.string(), "--activate"}).exit_code, 0);
  ExpectOneWholeVersion(root, "1.0.0");
  EXPECT_EQ(count("installed 2.0.0"), 1u) << ReadText(root / "reports.log");
  EXPECT_EQ(count("rolled-back 2.0.0"), 1u) << ReadText(root / "reports.log");
  // The restarted agent started 1.0.0 once, and never 2.0.0.
  EXPECT_EQ(ReadText(root / "running-version.starts"), starts_before + "1.0.0\n");
}

// --- Rollbacks on health-check failures, in process, with their reports. ---

class RollbackTest : public ::testing::Test {
 protected:
  // Installs v1 then `next`, activating each; returns the reports of the second update.
  std::vector<ledger::DeviceReport> Update(const fs::path& v1, const fs::path& next) {
    std::vector<ledger::DeviceReport> reports;
    UpdaterRunnerOptions options;
    options.root = directory_.path() / "root";
    options.supervisor.stop_grace_period = milliseconds(2'000);
    options.health_stay_up_default = milliseconds(300);
    options.hook_timeout = hook_timeout_;
    ::setenv("VIGIL_TEST_VERSION_FILE", (directory_.path() / "running-version").c_str(), 1);
    UpdaterRunner runner(io_context_, options,
                         [&](const ledger::DeviceReport& report, std::function<void()> accepted) {
                           reports.push_back(report);
                           accepted();
                         });
    EXPECT_TRUE(runner.Start());
    for (const fs::path& bundle : {v1, next}) {
      reports.clear();
      auto summary = release::InspectBundle(bundle);
      EXPECT_TRUE(summary.has_value());
      delivery::VerifiedRelease release{
          .app = "demo", .version = summary->manifest.version,
          .bundle_digest = summary->bundle_digest,
          .bundle_size_bytes = summary->bundle_size_bytes,
          .manifest_root = summary->manifest_root, .publisher = {}, .height = 1};
      fs::path copy = directory_.path() / "download.bundle";
      fs::copy_file(bundle, copy, fs::copy_options::overwrite_existing);
      auto installed = runner.Install(release, copy, std::chrono::microseconds(5000));
      EXPECT_TRUE(installed.has_value()) << installed.error().ToString();
      EXPECT_TRUE(runner.Activate("demo"));
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < deadline &&
             !(runner.settled("demo") && runner.record("demo")->state == UpdaterState::kIdle)) {
        io_context_.run_for(milliseconds(20));
        io_context_.restart();
      }
      EXPECT_EQ(runner.record("demo")->state, UpdaterState::kIdle);
    }
    running_ = runner.running_version("demo");
    statuses_ = runner.AppStatuses();
    return reports;
  }

  void ExpectRolledBack(const std::vector<ledger::DeviceReport>& reports,
                        const std::string& reason_part) {
    ASSERT_GE(reports.size(), 2u);
    EXPECT_EQ(reports.front().report_kind, ledger::DeviceReportKind::kInstalled);
    EXPECT_EQ(reports.back().report_kind, ledger::DeviceReportKind::kRolledBack);
    EXPECT_EQ(reports.back().version, "2.0.0");
    EXPECT_NE(reports.back().detail.find(reason_part), std::string::npos)
        << reports.back().detail;
    EXPECT_EQ(running_, "1.0.0");
    ExpectCurrent("1.0.0");
  }

  void ExpectCurrent(const std::string& version) {
    AppLayout layout(directory_.path() / "root", "demo");
    auto current = ReadLink(layout.current());
    ASSERT_TRUE(current && current->has_value());
    auto manifest = LoadSlotManifest(layout, **current);
    ASSERT_TRUE(manifest.has_value());
    EXPECT_EQ(manifest->version, version);
  }

  fs::path Build(const std::string& version, const std::string& run_body,
                 release::HealthCheck health, const std::string& check_body = "") {
    return BuildApp(directory_.path(), version, run_body, std::move(health), check_body);
  }

  // Lines the version file's ".starts" companion holds: how often an app version started.
  size_t Starts() {
    std::string starts = ReadText(directory_.path() / "running-version.starts");
    return static_cast<size_t>(std::count(starts.begin(), starts.end(), '\n'));
  }

  test_support::TemporaryDirectory directory_{"vigil-rollback"};
  milliseconds hook_timeout_ = limits::kAgentHookTimeout;
  asio::io_context io_context_;
  std::string running_;
  std::vector<delivery::AppStatus> statuses_;
};

const release::HealthCheck kNoCheck{.stay_up_seconds = 0, .command = {}, .tcp_port = 0,
                                    .timeout_seconds = 0};

TEST_F(RollbackTest, SuccessfulUpdateReportsInstalledThenActivatedWithDurations) {
  auto reports = Update(Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
                        Build("2.0.0", RunsAndSleeps("2.0.0"), kNoCheck));
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].report_kind, ledger::DeviceReportKind::kInstalled);
  EXPECT_GT(reports[0].observed_time_ms, 0);
  EXPECT_NE(reports[0].detail.find("transmission_ms=5"), std::string::npos) << reports[0].detail;
  EXPECT_EQ(reports[1].report_kind, ledger::DeviceReportKind::kActivated);
  EXPECT_EQ(reports[1].version, "2.0.0");
  EXPECT_GE(reports[1].duration_ms, 300u);  // at least the default stay-up window
  EXPECT_EQ(running_, "2.0.0");
  ExpectCurrent("2.0.0");
  ASSERT_EQ(statuses_.size(), 1u);
  EXPECT_EQ(statuses_[0].running_version, "2.0.0");
  EXPECT_EQ(statuses_[0].staged_version, "");
}

TEST_F(RollbackTest, NewVersionThatExitsAtOnceIsRolledBack) {
  auto reports = Update(Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
                        Build("2.0.0", "exit 4", kNoCheck));
  ExpectRolledBack(reports, "exited with code 4");
}

TEST_F(RollbackTest, NewVersionWhosePortNeverOpensIsRolledBack) {
  uint16_t port = 0;
  {
    asio::ip::tcp::acceptor probe(io_context_, {asio::ip::address_v4::loopback(), 0});
    port = probe.local_endpoint().port();
  }
  auto reports = Update(
      Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
      Build("2.0.0", RunsAndSleeps("2.0.0"),
            {.stay_up_seconds = 0, .command = {}, .tcp_port = port, .timeout_seconds = 1}));
  ExpectRolledBack(reports, "port " + std::to_string(port));
}

TEST_F(RollbackTest, NewVersionWhoseHealthCommandFailsIsRolledBack) {
  auto reports = Update(
      Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
      Build("2.0.0", RunsAndSleeps("2.0.0"),
            {.stay_up_seconds = 0, .command = {"check.sh"}, .tcp_port = 0, .timeout_seconds = 2},
            "exit 1"));
  ExpectRolledBack(reports, "health command check.sh exited with code 1");
}

TEST_F(RollbackTest, BundleThatIsNotTheLedgersReleaseIsNotInstalled) {
  fs::path v1 = Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck);
  UpdaterRunnerOptions options;
  options.root = directory_.path() / "root";
  UpdaterRunner runner(io_context_, options, nullptr);
  ASSERT_TRUE(runner.Start());
  auto summary = release::InspectBundle(v1);
  ASSERT_TRUE(summary.has_value());
  delivery::VerifiedRelease release{.app = "demo", .version = "1.0.0",
                                    .bundle_digest = summary->bundle_digest,
                                    .bundle_size_bytes = summary->bundle_size_bytes,
                                    .manifest_root = summary->manifest_root, .publisher = {},
                                    .height = 1};
  release.manifest_root[0] ^= 1;  // the ledger recorded another manifest
  fs::path copy = directory_.path() / "download.bundle";
  fs::copy_file(v1, copy);
  ASSERT_TRUE(runner.Install(release, copy, std::chrono::microseconds(0)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && !runner.settled("demo")) {
    io_context_.run_for(milliseconds(20));
    io_context_.restart();
  }
  auto record = runner.record("demo");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->state, UpdaterState::kIdle);
  EXPECT_NE(record->reason.find("manifest root"), std::string::npos) << record->reason;
  EXPECT_FALSE(fs::exists(AppLayout(options.root, "demo").slot(SlotName("1.0.0",
                                                                        release.bundle_digest))));
}

// --- Install hooks (docs/agent.md#install-hooks), with real scripts. ---

// hook.sh PHASE: appends "PHASE <its slot> <the slot `current` names>" to $VIGIL_TEST_HOOK_FILE.
const char* kRecordingHook =
    "echo \"$1 $(basename \"$(pwd)\") $(basename \"$(readlink ../../current)\")\" >> "
    "\"$VIGIL_TEST_HOOK_FILE\"";
const release::InstallHooks kBothHooks{.pre_activate = {"hook.sh", "pre"},
                                       .post_activate = {"hook.sh", "post"}};

TEST_F(RollbackTest, HooksRunInTheNewSlotBeforeAndAfterTheSwitch) {
  fs::path hook_file = directory_.path() / "hooks.log";
  ::setenv("VIGIL_TEST_HOOK_FILE", hook_file.c_str(), 1);
  auto reports = Update(Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
                        BuildApp(directory_.path(), "2.0.0", RunsAndSleeps("2.0.0"), kNoCheck, "",
                                 kBothHooks, kRecordingHook));
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].report_kind, ledger::DeviceReportKind::kActivated);
  EXPECT_EQ(running_, "2.0.0");
  ExpectCurrent("2.0.0");
  std::istringstream lines(ReadText(hook_file));
  std::string pre_phase, pre_slot, pre_current, post_phase, post_slot, post_current;
  lines >> pre_phase >> pre_slot >> pre_current >> post_phase >> post_slot >> post_current;
  EXPECT_EQ(pre_phase, "pre");
  EXPECT_EQ(pre_slot.substr(0, 6), "2.0.0-");        // run in the new slot...
  EXPECT_EQ(pre_current.substr(0, 6), "1.0.0-");     // ...while `current` still is the old one
  EXPECT_EQ(post_phase, "post");
  EXPECT_EQ(post_slot, pre_slot);
  EXPECT_EQ(post_current, post_slot);                 // after the switch
  EXPECT_EQ(Starts(), 2u);                            // 1.0.0 once, 2.0.0 once
}

TEST_F(RollbackTest, FailingPreActivateHookLeavesTheOldVersionRunningUntouched) {
  auto reports = Update(
      Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
      BuildApp(directory_.path(), "2.0.0", RunsAndSleeps("2.0.0"), kNoCheck, "",
               {.pre_activate = {"hook.sh"}, .post_activate = {}},
               "echo starting migration\necho migration failed: disk full >&2\nexit 3"));
  ExpectRolledBack(reports,
                   "refused: pre_activate hook hook.sh exited with code 3: starting migration "
                   "migration failed: disk full");
  EXPECT_EQ(Starts(), 1u);  // 1.0.0 was never stopped, 2.0.0 never started
}

TEST_F(RollbackTest, FailingPostActivateHookIsRolledBack) {
  auto reports = Update(Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
                        BuildApp(directory_.path(), "2.0.0", RunsAndSleeps("2.0.0"), kNoCheck, "",
                                 {.pre_activate = {}, .post_activate = {"hook.sh"}},
                                 "echo cannot register >&2\nexit 5"));
  ExpectRolledBack(reports, "post_activate hook hook.sh exited with code 5: cannot register");
  EXPECT_EQ(Starts(), 2u);  // 1.0.0, stopped for the switch, started again; 2.0.0 never
}

TEST_F(RollbackTest, HookPastItsTimeLimitIsKilledAndTheReleaseRefused) {
  hook_timeout_ = milliseconds(500);
  auto started = std::chrono::steady_clock::now();
  auto reports = Update(Build("1.0.0", RunsAndSleeps("1.0.0"), kNoCheck),
                        BuildApp(directory_.path(), "2.0.0", RunsAndSleeps("2.0.0"), kNoCheck, "",
                                 {.pre_activate = {"hook.sh"}, .post_activate = {}},
                                 "echo waiting forever\nexec sleep 600"));
  ExpectRolledBack(reports, "pre_activate hook hook.sh did not finish within 500 ms: waiting forever");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
}

TEST(InstallHookTest, OutputTailIsBoundedAndPrintable) {
  test_support::TemporaryDirectory directory("vigil-hook-tail");
  fs::path path = directory.path() / "out";
  std::string text = std::string(2000, 'a') + "\n\x01\xff end \t\n";
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes(text), 0644));
  std::string tail = ReadOutputTail(path, 64);
  EXPECT_LE(tail.size(), 64u);
  EXPECT_EQ(tail.substr(tail.size() - 4), " end");
  EXPECT_EQ(ReadOutputTail(directory.path() / "missing", 64), "");
}

}  // namespace
}  // namespace vigil::agent
