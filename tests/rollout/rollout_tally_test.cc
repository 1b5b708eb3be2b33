#include "rollout/rollout_tally.h"

#include <gtest/gtest.h>

namespace vigil::rollout {
namespace {

using std::chrono::milliseconds;

TEST(NearestRankTest, SmallestValueWithTheQuantileAtOrBelowIt) {
  std::vector<milliseconds> values;
  for (int i = 1; i <= 100; ++i) values.push_back(milliseconds(i * 10));
  EXPECT_EQ(NearestRank(values, 0.50), milliseconds(500));
  EXPECT_EQ(NearestRank(values, 0.99), milliseconds(990));
  EXPECT_EQ(NearestRank(values, 1.0), milliseconds(1000));
  EXPECT_EQ(NearestRank({milliseconds(7)}, 0.99), milliseconds(7));
  EXPECT_EQ(NearestRank({}, 0.5), milliseconds(0));
}

TEST(RolloutTallyTest, SummarizesEachMilestoneOverTheDevicesThatReachedIt) {
  RolloutTally tally(4);
  for (size_t device = 0; device < 4; ++device) {
    tally.Record(device, Milestone::kDownloaded, milliseconds(100 * (device + 1)));
  }
  tally.Record(2, Milestone::kActivated, milliseconds(900));
  tally.Record(0, Milestone::kActivated, milliseconds(700));
  RolloutSummary summary = tally.Summarize();
  EXPECT_EQ(summary.devices, 4u);
  EXPECT_TRUE(summary.all(Milestone::kDownloaded));
  EXPECT_FALSE(summary.all(Milestone::kActivated));
  const auto& downloaded = summary[Milestone::kDownloaded];
  EXPECT_EQ(downloaded.devices, 4u);
  EXPECT_EQ(downloaded.first, milliseconds(100));
  EXPECT_EQ(downloaded.p50, milliseconds(200));
  EXPECT_EQ(downloaded.p99, milliseconds(400));
  EXPECT_EQ(downloaded.last, milliseconds(400));
  const auto& activated = summary[Milestone::kActivated];
  EXPECT_EQ(activated.devices, 2u);
  EXPECT_EQ(activated.first, milliseconds(700));
  EXPECT_EQ(activated.last, milliseconds(900));
  EXPECT_EQ(summary[Milestone::kInstalled].devices, 0u);
  EXPECT_EQ(summary[Milestone::kInstalled].last, milliseconds(0));
}

TEST(RolloutTallyTest, FirstTimeCountsAndOutOfRangeIsCountedNotStored) {
  RolloutTally tally(2);
  tally.Record(1, Milestone::kInstalled, milliseconds(50));
  tally.Record(1, Milestone::kInstalled, milliseconds(10));  // a retry: ignored
  tally.Record(2, Milestone::kInstalled, milliseconds(10));  // no such device
  EXPECT_EQ(tally.time(1, Milestone::kInstalled), milliseconds(50));
  EXPECT_EQ(tally.reached(Milestone::kInstalled), 1u);
  EXPECT_EQ(tally.ignored(), 1u);
  EXPECT_FALSE(tally.time(0, Milestone::kInstalled).has_value());
  EXPECT_FALSE(tally.time(5, Milestone::kInstalled).has_value());
  EXPECT_EQ(MilestoneName(Milestone::kActivationCommitted), "activation committed");
}

}  // namespace
}  // namespace vigil::rollout
