// Coordinated activation (seed 002) end to end, with real processes only: `vigil cluster up
// --staged` (a peer, a gateway, five device agents that stage releases and wait), `vigil
// publish`, `vigil activate`. What each device runs is read from a file its app appends to;
// the block at which each device switched is read from its agent's log ("at verified block N").
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
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
constexpr int kDevices = 5;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ActivationFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = directory_.path() / "cluster";
    CommandResult up = RunVigil("cluster up --dir " + cluster_.string() + " --peers 1 --devices " +
                                    std::to_string(kDevices) + " --staged --apps " + kApp +
                                    " --empty-block-interval-ms 200",
                                60);
    ASSERT_EQ(up.exit_code, 0) << up.output;
  }

  void TearDown() override {
    CommandResult down = RunVigil("cluster down --dir " + cluster_.string(), 60);
    EXPECT_EQ(down.exit_code, 0) << down.output;
    if (HasFailure()) {
      for (int i = 1; i <= kDevices; ++i) {
        std::istringstream lines(Log(i));
        std::string steps;
        for (std::string line; std::getline(lines, line);) {
          for (const char* step : {"staged ->", "activating", "halted:", "behind:", "idle ->"}) {
            if (line.find(step) != std::string::npos) {
              steps += line + "\n";
              break;
            }
          }
        }
        ADD_FAILURE() << Device(i) << " steps:\n" << steps;
      }
      for (const char* log : {"gateway/gateway.log", "device-1/device-1.log"}) {
        std::string all = ReadAll(cluster_ / log);
        ADD_FAILURE() << log << " (last 4000 bytes):\n"
                      << all.substr(all.size() > 4000 ? all.size() - 4000 : 0);
      }
    }
  }

  void Publish(const std::string& version) {
    std::filesystem::path source = directory_.path() / ("app-" + version);
    std::filesystem::create_directories(source);
    std::ofstream(source / "run.sh")
        << "#!/bin/sh\necho \"start " << version << "\" >> ../../runs.log\nexec sleep 600\n";
    std::filesystem::permissions(source / "run.sh", std::filesystem::perms::owner_all);
    std::string bundle = (directory_.path() / (version + ".vigil")).string();
    CommandResult built =
        RunVigil("release build " + source.string() + " --app " + kApp + " --version " + version +
                 " --entry run.sh --health-stay-up 1 --out " + bundle);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    CommandResult published =
        RunVigil("publish " + bundle + " --key " + (cluster_ / "publisher").string() +
                 " --cluster " + cluster_.string());
    ASSERT_EQ(published.exit_code, 0) << published.output;
  }

  CommandResult Activate(const std::string& version, const std::string& options) {
    return RunVigil("activate --group line-1 --app " + std::string(kApp) + " --version " + version +
                    " " + options + " --cluster " + cluster_.string());
  }

  static std::string Device(int i) { return "device-" + std::to_string(i); }
  std::string Runs(int i) {
    return ReadAll(cluster_ / Device(i) / "state" / "apps" / kApp / "runs.log");
  }
  std::string Log(int i) { return ReadAll(cluster_ / Device(i) / (Device(i) + ".log")); }

  template <typename Predicate>
  bool WaitFor(Predicate predicate, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return predicate();
  }
  bool AllLogsHave(const std::string& text) {
    for (int i = 1; i <= kDevices; ++i) {
      if (Log(i).find(text) == std::string::npos) return false;
    }
    return true;
  }
  bool AllRunLast(const std::string& version) {
    std::string line = "start " + version + "\n";
    for (int i = 1; i <= kDevices; ++i) {
      std::string runs = Runs(i);
      if (runs.size() < line.size() ||
          runs.compare(runs.size() - line.size(), line.size(), line) != 0) {
        return false;
      }
    }
    return true;
  }
  // The verified block at which each device started activating `version` (its last one).
  std::set<uint64_t> SwitchHeights(const std::string& version) {
    std::set<uint64_t> heights;
    std::regex pattern(
        "activating " + std::string(kApp) + " " + version +
        R"( \(recorded at block (\d+), effective from block (\d+)\) at verified block (\d+))");
    for (int i = 1; i <= kDevices; ++i) {
      std::string log = Log(i);
      uint64_t last = 0;
      for (std::sregex_iterator it(log.begin(), log.end(), pattern), end; it != end; ++it) {
        last = std::stoull((*it)[3].str());
        EXPECT_EQ((*it)[2].str(), (*it)[3].str()) << Device(i) << " switched late: " << it->str();
      }
      heights.insert(last);
    }
    return heights;
  }

  test_support::TemporaryDirectory directory_{"vigil-activation-flow"};
  std::filesystem::path cluster_;
};

TEST_F(ActivationFlowTest, StagedThenSwitchedTogetherRefusedBelowThresholdDowngradeKeepAndHalt) {
  ASSERT_NO_FATAL_FAILURE(Publish("1.0.0"));
  ASSERT_TRUE(WaitFor([&] { return AllLogsHave("staged -> 1.0.0"); }));
  std::this_thread::sleep_for(1s);  // the installed reports reach the ledger
  for (int i = 1; i <= kDevices; ++i)
    EXPECT_EQ(Runs(i), "") << Device(i) << " activated on its own";

  // Threshold above what installed it: refused, with the counts.
  CommandResult refused = Activate("1.0.0", "--next --min-installed 6");
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("5 of 5 enrolled devices"), std::string::npos) << refused.output;

  // All five installed: accepted, and every device switches at the same verified block.
  CommandResult accepted = Activate("1.0.0", "--next --min-installed 5");
  ASSERT_EQ(accepted.exit_code, 0) << accepted.output;
  ASSERT_TRUE(WaitFor([&] { return AllRunLast("1.0.0"); }));
  EXPECT_EQ(SwitchHeights("1.0.0").size(), 1u);

  ASSERT_NO_FATAL_FAILURE(Publish("2.0.0"));
  ASSERT_TRUE(WaitFor([&] { return AllLogsHave("staged -> 2.0.0"); }));
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(Activate("2.0.0", "--next").exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return AllRunLast("2.0.0"); }));
  auto heights = SwitchHeights("2.0.0");
  EXPECT_EQ(heights.size(), 1u);

  // Downgrade to 1.0.0, policy keep: nobody has it staged, 2.0.0 keeps running and each
  // device reports being behind, fetches the older release (accepted only because the
  // activation names it) and then switches.
  CommandResult downgrade = Activate("1.0.0", "--next --on-missing keep");
  ASSERT_EQ(downgrade.exit_code, 0) << downgrade.output;
  ASSERT_TRUE(WaitFor([&] { return AllLogsHave("behind: 1.0.0 is effective"); }));
  ASSERT_TRUE(WaitFor([&] { return AllRunLast("1.0.0"); }));

  // Halt: 3.0.0 is staged everywhere; activating 2.0.0 (not staged at the time) with policy
  // halt. A device stops the app until 2.0.0 is fetched and staged, then runs it — unless it
  // fetched and staged 2.0.0 before the effective block (the activation reaches it one block
  // early), then it switches at that block. Either way every device ends on 2.0.0 and stays
  // there: the newer 3.0.0, offered again meanwhile, must not replace the staged 2.0.0 (it did,
  // and the queued switch started 3.0.0).
  ASSERT_NO_FATAL_FAILURE(Publish("3.0.0"));
  ASSERT_TRUE(WaitFor([&] { return AllLogsHave("staged -> 3.0.0"); }));
  CommandResult halt = Activate("2.0.0", "--next --on-missing halt");
  ASSERT_EQ(halt.exit_code, 0) << halt.output;
  ASSERT_TRUE(WaitFor([&] { return AllRunLast("2.0.0"); }));
  std::this_thread::sleep_for(1500ms);  // 3.0.0 is offered again on every Hello
  EXPECT_TRUE(AllRunLast("2.0.0"));
  int halted = 0;
  for (int i = 1; i <= kDevices; ++i) {
    std::string log = Log(i);
    bool stopped = log.find("halted: 2.0.0 is effective") != std::string::npos;
    halted += stopped ? 1 : 0;
    EXPECT_TRUE(stopped || SwitchHeights("2.0.0").size() == 1u) << Device(i);
  }
  RecordProperty("halted_devices", halted);
}

}  // namespace
}  // namespace vigil
