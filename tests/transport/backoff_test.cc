#include "transport/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace vigil::transport {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, WithoutJitterGrowsExponentiallyUpToTheCap) {
  Backoff backoff({milliseconds(100), milliseconds(1000), 2, Jitter::kNone}, 1);
  std::vector<int64_t> delays;
  for (int index = 0; index < 7; ++index) delays.push_back(backoff.NextDelay().count());
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000, 1000}));
  EXPECT_EQ(backoff.attempts(), 7u);
}

TEST(BackoffTest, ManyAttemptsNeverOverflow) {
  Backoff backoff({milliseconds(1), milliseconds(30000), 2, Jitter::kNone}, 1);
  for (int index = 0; index < 10000; ++index) {
    auto delay = backoff.NextDelay();
    ASSERT_GE(delay.count(), 1);
    ASSERT_LE(delay.count(), 30000);
  }
}

TEST(BackoffTest, FullJitterStaysWithinZeroAndTheExponentialCeiling) {
  Backoff backoff({milliseconds(100), milliseconds(5000), 2, Jitter::kFull}, 7);
  bool saw_below_ceiling = false;
  for (int round = 0; round < 200; ++round) {
    backoff.Reset();
    int64_t ceiling = 100;
    for (int attempt = 0; attempt < 8; ++attempt) {
      int64_t delay = backoff.NextDelay().count();
      ASSERT_GE(delay, 0);
      ASSERT_LE(delay, ceiling);
      if (delay < ceiling) saw_below_ceiling = true;
      ceiling = std::min<int64_t>(ceiling * 2, 5000);
    }
  }
  EXPECT_TRUE(saw_below_ceiling);
}

TEST(BackoffTest, DecorrelatedJitterStaysBetweenInitialAndCap) {
  Backoff backoff({milliseconds(100), milliseconds(3000), 2, Jitter::kDecorrelated}, 11);
  int64_t previous = 100;
  int64_t largest = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int64_t delay = backoff.NextDelay().count();
    ASSERT_GE(delay, 100);
    ASSERT_LE(delay, std::min<int64_t>(3000, previous * 3));
    previous = delay;
    largest = std::max(largest, delay);
  }
  EXPECT_GT(largest, 1000) << "decorrelated jitter should grow toward the cap";
}

TEST(BackoffTest, ResetStartsAgainFromTheInitialDelay) {
  Backoff backoff({milliseconds(100), milliseconds(10000), 2, Jitter::kNone}, 1);
  for (int index = 0; index < 5; ++index) backoff.NextDelay();
  backoff.Reset();
  EXPECT_EQ(backoff.attempts(), 0u);
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));
}

TEST(BackoffTest, SameSeedSameDelaysDifferentSeedDifferentDelays) {
  auto sequence = [](uint64_t seed) {
    Backoff backoff({milliseconds(100), milliseconds(30000), 2, Jitter::kDecorrelated}, seed);
    std::vector<int64_t> delays;
    for (int index = 0; index < 20; ++index) delays.push_back(backoff.NextDelay().count());
    return delays;
  };
  EXPECT_EQ(sequence(5), sequence(5));
  EXPECT_NE(sequence(5), sequence(6));
}

TEST(BackoffTest, JitterSpreadsAHerd) {
  // 100 devices that lost their gateway at once should not all retry at the same moment.
  std::vector<int64_t> first_retry;
  for (uint64_t device = 0; device < 100; ++device) {
    Backoff backoff({milliseconds(100), milliseconds(30000), 2, Jitter::kFull}, device);
    backoff.NextDelay();
    backoff.NextDelay();
    first_retry.push_back(backoff.NextDelay().count());
  }
  std::sort(first_retry.begin(), first_retry.end());
  auto distinct = std::unique(first_retry.begin(), first_retry.end()) - first_retry.begin();
  EXPECT_GT(distinct, 50);
}

}  // namespace
}  // namespace vigil::transport
