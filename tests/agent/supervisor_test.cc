// The supervisor with real processes: restarts with backoff, crash reports, crash loops,
// SIGTERM → grace → SIGKILL, the app's log and its size cap, leftovers of a killed agent.
#include "agent/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "common/file.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class SupervisorTest : public ::testing::Test {
 protected:
  void WriteScript(const std::string& name, const std::string& body) {
    std::string text = "#!/bin/sh\n" + body + "\n";
    ASSERT_TRUE(WriteFileAtomically(directory_.path() / name, AsBytes(text), 0755));
  }
  SupervisorOptions Options() {
    SupervisorOptions options;
    options.log_path = directory_.path() / "app.log";
    options.pid_path = directory_.path() / "app.pid";
    options.restart_delay_initial = milliseconds(50);
    options.restart_delay_max = milliseconds(400);
    options.stable_uptime = milliseconds(10'000);
    options.crash_loop_restarts = 100;
    options.stop_grace_period = milliseconds(300);
    return options;
  }
  Program Script(const std::string& name, Environment environment = {}) {
    return {.directory = directory_.path(),
            .argv = {"./" + name},
            .environment = std::move(environment)};
  }
  // Runs the loop until `condition` or the time limit; false on timeout.
  bool RunUntil(const std::function<bool()>& condition, milliseconds limit = milliseconds(10'000)) {
    auto deadline = Clock::now() + limit;
    while (!condition()) {
      if (Clock::now() > deadline) return false;
      io_context_.run_for(milliseconds(10));
      io_context_.restart();
    }
    return true;
  }
  std::string Log() {
    std::ifstream file(directory_.path() / "app.log");
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  }

  test_support::TemporaryDirectory directory_{"vigil-supervisor"};
  asio::io_context io_context_;
};

TEST_F(SupervisorTest, CrashingAppIsRestartedWithGrowingDelaysAndEachCrashIsReported) {
  WriteScript("crash.sh", "echo started; exit 3");
  std::vector<CrashReport> reports;
  std::vector<Clock::time_point> times;
  Supervisor supervisor(io_context_, Options(), [&](const CrashReport& report) {
    reports.push_back(report);
    times.push_back(Clock::now());
  });
  ASSERT_TRUE(supervisor.Start(Script("crash.sh")));
  ASSERT_TRUE(RunUntil([&] { return reports.size() >= 5; }));
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(reports[i].exit.exit_code, 3);
    EXPECT_EQ(reports[i].exit.signal, 0);
    EXPECT_EQ(reports[i].consecutive_crashes, i + 1);
    EXPECT_FALSE(reports[i].crash_loop);
  }
  std::vector<int64_t> delays;
  for (const CrashReport& report : reports) delays.push_back(report.restart_delay.count());
  EXPECT_EQ(delays, (std::vector<int64_t>{50, 100, 200, 400, 400}));
  // The restarts really waited: crash i+1 comes at least delay i after crash i.
  for (size_t i = 0; i + 1 < times.size(); ++i) {
    EXPECT_GE(times[i + 1] - times[i], milliseconds(delays[i])) << i;
  }
  EXPECT_EQ(supervisor.exits(), reports.size());
  bool stopped = false;
  supervisor.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  EXPECT_NE(Log().find("started\nstarted\n"), std::string::npos) << Log();
}

TEST_F(SupervisorTest, CrashLoopIsReportedAndRestartsSlowDown) {
  WriteScript("crash.sh", "exit 1");
  SupervisorOptions options = Options();
  options.crash_loop_restarts = 3;
  options.crash_loop_window = milliseconds(10'000);
  options.crash_loop_retry_delay = milliseconds(700);
  std::vector<CrashReport> reports;
  Supervisor supervisor(io_context_, options,
                        [&](const CrashReport& report) { reports.push_back(report); });
  ASSERT_TRUE(supervisor.Start(Script("crash.sh")));
  ASSERT_TRUE(RunUntil([&] { return reports.size() >= 3; }));
  EXPECT_FALSE(reports[0].crash_loop);
  EXPECT_FALSE(reports[1].crash_loop);
  EXPECT_TRUE(reports[2].crash_loop);
  EXPECT_EQ(reports[2].restart_delay, milliseconds(700));
  // Still retried (slowly): the fourth crash comes, no sooner than the slow delay.
  auto third = Clock::now();
  ASSERT_TRUE(RunUntil([&] { return reports.size() >= 4; }));
  EXPECT_GE(Clock::now() - third, milliseconds(600));
  EXPECT_TRUE(reports[3].crash_loop);
}

TEST_F(SupervisorTest, AppIgnoringSigtermIsKilledAfterTheGracePeriodWithItsChildren) {
  WriteScript("stubborn.sh",
              "trap '' TERM\nsleep 30 &\necho $! > child.pid\nwhile true; do sleep 0.05; done");
  bool crashed = false;
  Supervisor supervisor(io_context_, Options(), [&](const CrashReport&) { crashed = true; });
  ASSERT_TRUE(supervisor.Start(Script("stubborn.sh")));
  ASSERT_TRUE(RunUntil([&] { return std::filesystem::exists(directory_.path() / "child.pid"); }));
  RunUntil([] { return false; }, milliseconds(100));
  std::ifstream child_file(directory_.path() / "child.pid");
  pid_t grandchild = 0;
  child_file >> grandchild;
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(::kill(grandchild, 0), 0);

  bool stopped = false;
  auto begin = Clock::now();
  supervisor.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }, milliseconds(5'000)));
  EXPECT_GE(Clock::now() - begin, milliseconds(300));  // it ignored SIGTERM: the grace passed
  EXPECT_FALSE(crashed);                               // a stop is not a crash
  EXPECT_FALSE(supervisor.running());
  EXPECT_FALSE(std::filesystem::exists(directory_.path() / "app.pid"));
  // The grandchild was in the group: killed too (it is not our child; poll until it is gone).
  EXPECT_TRUE(RunUntil([&] { return ::kill(grandchild, 0) != 0; }, milliseconds(2'000)));
}

TEST_F(SupervisorTest, WellBehavedAppStopsWithoutWaitingForTheGracePeriod) {
  WriteScript("app.sh", "exec sleep 30");
  SupervisorOptions options = Options();
  options.stop_grace_period = milliseconds(5'000);
  Supervisor supervisor(io_context_, options, nullptr);
  ASSERT_TRUE(supervisor.Start(Script("app.sh")));
  ASSERT_TRUE(std::filesystem::exists(directory_.path() / "app.pid"));
  bool stopped = false;
  auto begin = Clock::now();
  supervisor.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  EXPECT_LT(Clock::now() - begin, milliseconds(2'000));
}

// The app runs with the agent's environment plus the program's variables (which win over the
// agent's own of the same name), in its slot directory.
TEST_F(SupervisorTest, TheAppRunsWithTheAgentsEnvironmentPlusItsOwnVariables) {
  ASSERT_EQ(::setenv("VIGIL_TEST_FROM_AGENT", "agent", 1), 0);
  ASSERT_EQ(::setenv("VIGIL_TEST_REPLACED", "agent's", 1), 0);
  WriteScript("env.sh",
              "echo \"$VIGIL_TEST_FROM_AGENT|$VIGIL_TEST_REPLACED|$VIGIL_TEST_ADDED|$(pwd)\" "
              "> seen.tmp && mv seen.tmp seen; exec sleep 30");
  Supervisor supervisor(io_context_, Options(), nullptr);
  ASSERT_TRUE(supervisor.Start(Script(
      "env.sh", {{"VIGIL_TEST_REPLACED", "the app's"}, {"VIGIL_TEST_ADDED", "a b=c"}})));
  std::filesystem::path seen = directory_.path() / "seen";
  ASSERT_TRUE(RunUntil([&] { return std::filesystem::exists(seen); }));
  auto text = ReadFile(seen, 4096);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(std::string(text->begin(), text->end()),
            "agent|the app's|a b=c|" + std::filesystem::canonical(directory_.path()).string() +
                "\n");
  bool stopped = false;
  supervisor.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  ::unsetenv("VIGIL_TEST_FROM_AGENT");
  ::unsetenv("VIGIL_TEST_REPLACED");
}

TEST(MergeEnvironmentTest, AddsNewNamesAndReplacesExistingOnesOnly) {
  std::vector<std::string> base = {"PATH=/bin", "VIGIL_APP=old", "VIGIL_APPX=kept", "EMPTY="};
  std::vector<std::string> merged =
      MergeEnvironment(base, {{"VIGIL_APP", "press"}, {"VIGIL_APP_DATA", "/d"}});
  EXPECT_EQ(merged, (std::vector<std::string>{"PATH=/bin", "VIGIL_APPX=kept", "EMPTY=",
                                              "VIGIL_APP=press", "VIGIL_APP_DATA=/d"}));
  EXPECT_EQ(MergeEnvironment(base, {}), base);
}

TEST_F(SupervisorTest, StartOfAMissingEntryFailsAndSupervisesNothing) {
  Supervisor supervisor(io_context_, Options(), nullptr);
  auto status = supervisor.Start(Script("missing.sh"));
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message().find("missing.sh"), std::string::npos);
  EXPECT_FALSE(supervisor.supervising());
}

TEST_F(SupervisorTest, LogIsRotatedAtItsSizeCap) {
  WriteScript("chatty.sh", "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; "
                           "i=$((i+1)); [ $((i % 20)) -eq 0 ] && sleep 0.02; done; exec sleep 30");
  SupervisorOptions options = Options();
  options.log_bytes_max = 2'000;
  Supervisor supervisor(io_context_, options, nullptr);
  ASSERT_TRUE(supervisor.Start(Script("chatty.sh")));
  ASSERT_TRUE(RunUntil([&] { return Log().find("line-199-") != std::string::npos; }));
  EXPECT_LE(std::filesystem::file_size(directory_.path() / "app.log"), 2'000u);
  EXPECT_TRUE(std::filesystem::exists(directory_.path() / "app.log.1"));
  EXPECT_LE(std::filesystem::file_size(directory_.path() / "app.log.1"), 2'000u);
}

TEST_F(SupervisorTest, LeftoverGroupOfAKilledAgentIsStopped) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // no race with the child's own call: either order works
  auto pid_path = directory_.path() / "app.pid";
  ASSERT_TRUE(RunUntil([&] { return ProcessStartTime(pid).has_value(); }));
  ASSERT_TRUE(WritePidFile(pid_path, pid));
  ASSERT_TRUE(KillLeftoverGroup(pid_path, milliseconds(2'000)));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(std::filesystem::exists(pid_path));
  // A pid file naming a process that is gone is harmless.
  ASSERT_TRUE(WritePidFile(pid_path, pid));
  EXPECT_TRUE(KillLeftoverGroup(pid_path, milliseconds(100)));
}

}  // namespace
}  // namespace vigil::agent
