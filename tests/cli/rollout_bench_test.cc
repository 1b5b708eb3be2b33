// `vigil bench rollout` and `vigil bench activation` end to end with real processes: 4 peers and
// a gateway process, 20 simulated devices in the bench process. Rollout: one 1 MB release every
// device must download, install, activate and have its `activated` report committed.
// Activation: the devices stage a release and switch only on the activation, all at its
// effective block. The JSON must say so with sane figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

// --json prints the figures as the one line of stdout that starts with '{' (progress goes to
// stderr, off with --json); discarded when there is none.
nlohmann::json FiguresOf(const std::string& output) {
  std::istringstream lines(output);
  nlohmann::json json = nlohmann::json::value_t::discarded;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') json = nlohmann::json::parse(line, nullptr, false);
  }
  return json;
}

void ExpectOrdered(const nlohmann::json& milestone, const std::string& name) {
  double first = milestone.at("first_ms"), p50 = milestone.at("p50_ms"),
         p99 = milestone.at("p99_ms"), last = milestone.at("last_ms");
  EXPECT_LE(0, first) << name;
  EXPECT_LE(first, p50) << name;
  EXPECT_LE(p50, p99) << name;
  EXPECT_LE(p99, last) << name;
  EXPECT_LT(last, 60'000) << name;
}

TEST(RolloutBenchTest, TwentyDevicesAllActivateWithSaneFigures) {
  test_support::TemporaryDirectory directory;
  test_support::CommandResult run = test_support::RunVigil(
      "bench rollout --devices 20 --size 1MB --json --dir " + (directory.path() / "run").string(),
      60);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json json = FiguresOf(run.output);
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
    ExpectOrdered(milestone, name);
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

TEST(RolloutBenchTest, TwentyStagedDevicesSwitchOnTheActivationWithSaneFigures) {
  test_support::TemporaryDirectory directory;
  test_support::CommandResult run = test_support::RunVigil(
      "bench activation --devices 20 --json --dir " + (directory.path() / "run").string(), 90);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  nlohmann::json json = FiguresOf(run.output);
  ASSERT_FALSE(json.is_discarded()) << run.output;

  EXPECT_EQ(json.at("benchmark"), "activation");
  EXPECT_EQ(json.at("devices"), 20);
  EXPECT_EQ(json.at("switched"), 20) << run.output;
  EXPECT_EQ(json.at("failed"), 0) << run.output;
  EXPECT_EQ(json.at("effective_height").get<uint64_t>(),
            json.at("activation_height").get<uint64_t>() + 1);
  const auto& switched = json.at("switched_after_commit");
  const auto& reported = json.at("activated_report_committed_after_commit");
  EXPECT_EQ(switched.at("devices"), 20);
  EXPECT_EQ(reported.at("devices"), 20);
  ExpectOrdered(switched, "switched");
  ExpectOrdered(reported, "activated report committed");
  // The skew is last - first switch, measured at full resolution (the table rounds to ms).
  double skew = json.at("skew_ms");
  EXPECT_GE(skew, 0);
  EXPECT_NEAR(skew, switched.at("last_ms").get<double>() - switched.at("first_ms").get<double>(),
              1.0);
  EXPECT_LE(switched.at("last_ms").get<double>(), reported.at("last_ms").get<double>());
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
