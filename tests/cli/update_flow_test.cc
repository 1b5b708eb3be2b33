// Seed 001's update flow end to end, with real processes only: `vigil cluster up --devices 1`
// (a peer with its artifact store, a gateway, a device agent), `vigil release build`, `vigil
// publish`, and the device installing, activating and health-checking each release — or
// rolling back one that fails its health check — on its own.
//
// The app is a shell script that appends "start <version>" to a file beside its slots and
// sleeps; what the device runs is read from that file and from the `current` link.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;
using test_support::CommandResult;
using test_support::RunVigil;

constexpr char kApp[] = "press-control";

class UpdateFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = directory_.path() / "cluster";
    CommandResult up = RunVigil("cluster up --dir " + cluster_.string() +
                                    " --peers 1 --devices 1 --apps " + kApp +
                                    " --empty-block-interval-ms 200",
                                60);
    ASSERT_EQ(up.exit_code, 0) << up.output;
  }

  void TearDown() override {
    CommandResult down = RunVigil("cluster down --dir " + cluster_.string(), 60);
    EXPECT_EQ(down.exit_code, 0) << down.output;
    if (HasFailure()) {
      for (const char* log : {"gateway/gateway.log", "device-1/device-1.log", "peer-1/peer.log"}) {
        std::ifstream in(cluster_ / log);
        std::stringstream text;
        text << in.rdbuf();
        std::string all = text.str();
        ADD_FAILURE() << log << " (last 3000 bytes):\n"
                      << all.substr(all.size() > 3000 ? all.size() - 3000 : 0);
      }
    }
  }

  // Builds and publishes `version`; `script` is the body of run.sh after the start line.
  void Publish(const std::string& version, const std::string& script,
               const std::string& health = "--health-stay-up 1") {
    std::filesystem::path source = directory_.path() / ("app-" + version);
    std::filesystem::create_directories(source / "config");
    {
      std::ofstream run(source / "run.sh");
      run << "#!/bin/sh\necho \"start " << version << "\" >> ../../runs.log\n" << script << "\n";
    }
    std::filesystem::permissions(source / "run.sh", std::filesystem::perms::owner_all |
                                                        std::filesystem::perms::group_read |
                                                        std::filesystem::perms::others_read);
    std::ofstream(source / "config" / "line.conf") << "speed=" << version << "\n";
    std::string bundle = (directory_.path() / (version + ".vigil")).string();
    CommandResult built = RunVigil("release build " + source.string() + " --app " + kApp +
                                   " --version " + version + " --entry run.sh " + health +
                                   " --out " + bundle);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    CommandResult published = RunVigil("publish " + bundle + " --key " +
                                       (cluster_ / "publisher").string() + " --cluster " +
                                       cluster_.string());
    ASSERT_EQ(published.exit_code, 0) << published.output;
  }

  std::string Runs() {
    std::ifstream in(cluster_ / "device-1" / "state" / "apps" / kApp / "runs.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string CurrentSlot() {
    std::error_code error;
    auto target = std::filesystem::read_symlink(
        cluster_ / "device-1" / "state" / "apps" / kApp / "current", error);
    return error ? "" : target.filename().string();
  }

  template <typename Predicate>
  bool WaitFor(Predicate predicate, std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return predicate();
  }

  static bool EndsWith(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(),
                                                        suffix) == 0;
  }

  test_support::TemporaryDirectory directory_{"vigil-update-flow"};
  std::filesystem::path cluster_;
};

TEST_F(UpdateFlowTest, TheDeviceInstallsEachReleaseAndRollsBackOneThatFailsItsHealthCheck) {
  ASSERT_NO_FATAL_FAILURE(Publish("1.0.0", "exec sleep 600"));
  ASSERT_TRUE(WaitFor([&] { return EndsWith(Runs(), "start 1.0.0\n"); })) << Runs();
  EXPECT_TRUE(CurrentSlot().starts_with("1.0.0")) << CurrentSlot();

  ASSERT_NO_FATAL_FAILURE(Publish("2.0.0", "exec sleep 600"));
  ASSERT_TRUE(WaitFor([&] { return EndsWith(Runs(), "start 2.0.0\n"); })) << Runs();
  EXPECT_TRUE(CurrentSlot().starts_with("2.0.0")) << CurrentSlot();

  // Tampering with the running release's configuration: the agent's integrity monitor puts the
  // file back, restarts the app (a configuration file changed) and reports both to the ledger.
  const auto line_conf = cluster_ / "device-1" / "state" / "apps" / kApp / "current" / "config" /
                         "line.conf";
  std::ofstream(line_conf, std::ios::trunc) << "speed=tampered\n";
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream in(line_conf);
    std::string line;
    std::getline(in, line);
    return line == "speed=2.0.0";
  })) << "the tampered file was not repaired";
  ASSERT_TRUE(WaitFor([&] {
    CommandResult history = RunVigil("history --app " + std::string(kApp) + " --cluster " +
                                     cluster_.string());
    return history.output.find("tamper") != std::string::npos &&
           history.output.find("repaired") != std::string::npos;
  })) << RunVigil("history --app " + std::string(kApp) + " --cluster " + cluster_.string()).output;

  // 3.0.0 exits at once: its health check (stay up 1 s) fails and 2.0.0 runs again.
  ASSERT_NO_FATAL_FAILURE(Publish("3.0.0", "exit 3"));
  ASSERT_TRUE(WaitFor([&] {
    std::string runs = Runs();
    return runs.find("start 3.0.0\n") != std::string::npos && EndsWith(runs, "start 2.0.0\n");
  })) << Runs();
  EXPECT_TRUE(CurrentSlot().starts_with("2.0.0")) << CurrentSlot();
  // The failed release is not taken again (the gateway still offers it as the newest).
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(CurrentSlot().starts_with("2.0.0")) << CurrentSlot();
  EXPECT_TRUE(EndsWith(Runs(), "start 2.0.0\n")) << Runs();

  // Every step is on the ledger: the history of the app shows the device's reports. The
  // `rolled back` report follows the old version's own health check (stay up 1 s), so it may
  // still be on its way.
  CommandResult history;
  WaitFor([&] {
    history = RunVigil("history --app " + std::string(kApp) + " --cluster " + cluster_.string());
    return history.exit_code == 0 && history.output.find("rolled") != std::string::npos;
  });
  ASSERT_EQ(history.exit_code, 0) << history.output;
  for (const char* expected : {"installed", "activated", "rolled", "3.0.0"}) {
    EXPECT_NE(history.output.find(expected), std::string::npos) << expected << "\n" << history.output;
  }
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// `vigil bench update` keeps working (its figures go to docs/benchmarks.md; no timing is
// asserted here, only that every stage was measured and reported).
TEST(UpdateBenchTest, ReportsEveryStageOfTheSeedsTable) {
  test_support::TemporaryDirectory directory("vigil-bench-update-test");
  test_support::CommandResult result = test_support::RunVigil(
      "bench update --rounds 2 --size 20KB --peers 1 --json --dir " +
          (directory.path() / "bench").string(),
      180);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* stage : {"\"download\"", "\"gateway verification\"", "\"transmission\"",
                            "\"device verification\"", "\"installation\"", "\"restart\"",
                            "\"total\"", "\"goal_met\""}) {
    EXPECT_NE(result.output.find(stage), std::string::npos) << stage << "\n" << result.output;
  }
  EXPECT_NE(result.output.find("\"rounds\":2"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace vigil
