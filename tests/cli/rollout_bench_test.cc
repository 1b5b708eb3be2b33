// `vigil bench rollout` end to end with real processes: 4 peers and a gateway process, 20
// simulated devices in the bench process, one 1 MB release. Every device must download,
// install, activate and have its `activated` report committed, and the JSON must say so with
// sane figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

TEST(RolloutBenchTest, TwentyDevicesAllActivateWithSaneFigures) {
  test_support::TemporaryDirectory directory;
  test_support::CommandResult run = test_support::RunVigil(
      "bench rollout --devices 20 --size 1MB --json --dir " + (directory.path() / "run").string(),
      60);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // --json prints the figures as the one line of stdout that starts with '{' (progress goes to
  // stderr, off with --json).
  std::istringstream lines(run.output);
  nlohmann::json json = nlohmann::json::value_t::discarded;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') json = nlohmann::json::parse(line, nullptr, false);
  }
  ASSERT_FALSE(json.is_discarded()) << run.output;

  EXPECT_EQ(json.at("benchmark"), "rollout");
  EXPECT_EQ(json.at("devices"), 20);
  EXPECT_EQ(json.at("payload_bytes"), 1'000'000);
  EXPECT_GT(json.at("bundle_bytes").get<uint64_t>(), 1'000'000u);
  EXPECT_EQ(json.at("app_process"), false);
  EXPECT_EQ(json.at("activated"), 20) << run.output;
  EXPECT_EQ(json.at("failed"), 0) << run.output;
  for (const char* name : {"downloaded", "installed", "activated", "activation committed"}) {
    const auto& milestone = json.at("milestones").at(name);
    EXPECT_EQ(milestone.at("devices"), 20) << name;
    double first = milestone.at("first_ms"), p50 = milestone.at("p50_ms"),
           p99 = milestone.at("p99_ms"), last = milestone.at("last_ms");
    EXPECT_LE(0, first) << name;
    EXPECT_LE(first, p50) << name;
    EXPECT_LE(p50, p99) << name;
    EXPECT_LE(p99, last) << name;
    EXPECT_LT(last, 60'000) << name;
  }
  // Each device gets there in order: downloaded, installed, activated, committed.
  const auto& milestones = json.at("milestones");
  EXPECT_LE(milestones.at("downloaded").at("last_ms").get<double>(),
            milestones.at("installed").at("last_ms").get<double>());
  EXPECT_LE(milestones.at("installed").at("last_ms").get<double>(),
            milestones.at("activated").at("last_ms").get<double>());
  EXPECT_LE(milestones.at("activated").at("last_ms").get<double>(),
            milestones.at("activation committed").at("last_ms").get<double>());
  EXPECT_DOUBLE_EQ(json.at("all_activated_ms").get<double>(),
                   milestones.at("activated").at("last_ms").get<double>());
  // Memory: both processes really measured (VmHWM), and far from a gigabyte at this scale.
  EXPECT_GT(json.at("gateway_peak_rss_bytes").get<uint64_t>(), 1'000'000u);
  EXPECT_LT(json.at("gateway_peak_rss_bytes").get<uint64_t>(), 1ULL << 30);
  EXPECT_GT(json.at("bench_peak_rss_bytes").get<uint64_t>(), 1'000'000u);
  EXPECT_EQ(json.at("bytes_to_devices").get<uint64_t>(),
            20 * json.at("bundle_bytes").get<uint64_t>());
  EXPECT_TRUE(json.at("goal_met").is_boolean());
}

TEST(RolloutBenchTest, RefusesZeroDevicesAndBadSizes) {
  auto zero = test_support::RunVigil("bench rollout --devices 0 --size 1MB", 20);
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_NE(zero.output.find("--devices must be"), std::string::npos) << zero.output;
  auto size = test_support::RunVigil("bench rollout --devices 2 --size ten", 20);
  EXPECT_EQ(size.exit_code, 1);
  EXPECT_NE(size.output.find("--size 'ten'"), std::string::npos) << size.output;
}

}  // namespace
}  // namespace vigil
