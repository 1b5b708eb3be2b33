// LatencyRecorder against exact nearest-rank percentiles of known data, and the open-loop
// SendSchedule's arithmetic.
#include "bench/load_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace vigil::bench {
namespace {

using std::chrono::microseconds;

// The nearest-rank percentile the recorder approximates: the ceil(q x n)-th smallest sample.
double ExactPercentileMs(std::vector<int64_t> samples, double q) {
  std::ranges::sort(samples);
  size_t rank =
      std::max<size_t>(1, static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size()))));
  return static_cast<double>(samples[rank - 1]) / 1000.0;
}

TEST(LatencyRecorderTest, EmptyRecorderReportsZero) {
  LatencyRecorder recorder;
  EXPECT_EQ(recorder.count(), 0u);
  EXPECT_EQ(recorder.PercentileMs(0.5), 0);
  EXPECT_EQ(recorder.MaxMs(), 0);
}

TEST(LatencyRecorderTest, SmallValuesAreExact) {
  // 1..100 µs: every value below 512 µs has a bucket of its own.
  LatencyRecorder recorder;
  for (int64_t value = 100; value >= 1; --value) recorder.Add(microseconds(value));
  EXPECT_EQ(recorder.count(), 100u);
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(0), 0.001);
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(0.5), 0.050);
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(0.99), 0.099);
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(1), 0.100);
  EXPECT_DOUBLE_EQ(recorder.MaxMs(), 0.100);
}

TEST(LatencyRecorderTest, LargeValuesWithinBucketPrecisionAndNeverUnderstated) {
  // 1 µs .. 100 ms uniformly: the 50th percentile is 50 ms, the 99th 99 ms.
  LatencyRecorder recorder;
  for (int64_t value = 1; value <= 100'000; ++value) recorder.Add(microseconds(value));
  EXPECT_GE(recorder.PercentileMs(0.5), 50.0);
  EXPECT_LE(recorder.PercentileMs(0.5), 50.0 * (1 + 1.0 / 256));
  EXPECT_GE(recorder.PercentileMs(0.99), 99.0);
  EXPECT_LE(recorder.PercentileMs(0.99), 99.0 * (1 + 1.0 / 256));
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(1), 100.0);  // clamped to the largest sample
  EXPECT_DOUBLE_EQ(recorder.MaxMs(), 100.0);
}

TEST(LatencyRecorderTest, MatchesExactPercentilesOfRandomData) {
  // Log-uniform latencies from 10 µs to 10 s, the shape of a real run with a long tail.
  std::mt19937_64 random(7);
  std::uniform_real_distribution<double> exponent(1, 7);
  std::vector<int64_t> samples;
  LatencyRecorder recorder;
  for (int i = 0; i < 50'000; ++i) {
    auto value = static_cast<int64_t>(std::pow(10.0, exponent(random)));
    samples.push_back(value);
    recorder.Add(microseconds(value));
  }
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    double exact = ExactPercentileMs(samples, q);
    SCOPED_TRACE(q);
    EXPECT_GE(recorder.PercentileMs(q), exact);
    EXPECT_LE(recorder.PercentileMs(q), exact * (1 + 1.0 / 256));
  }
  EXPECT_DOUBLE_EQ(recorder.MaxMs(), static_cast<double>(std::ranges::max(samples)) / 1000.0);
}

TEST(LatencyRecorderTest, ClampsOutOfRangeValues) {
  LatencyRecorder recorder;
  recorder.Add(microseconds(-5));
  recorder.Add(std::chrono::hours(100));
  EXPECT_EQ(recorder.PercentileMs(0.5), 0);
  EXPECT_DOUBLE_EQ(recorder.MaxMs(), static_cast<double>(kLatencyMax.count()) / 1000.0);
  EXPECT_DOUBLE_EQ(recorder.PercentileMs(1), recorder.MaxMs());
}

TEST(LatencyRecorderTest, MergeEqualsRecordingEverythingInOne) {
  LatencyRecorder first, second, all;
  for (int64_t value = 1; value <= 3000; value += 7) {
    (value % 2 ? first : second).Add(microseconds(value * 13));
    all.Add(microseconds(value * 13));
  }
  first.Merge(second);
  EXPECT_EQ(first.count(), all.count());
  EXPECT_EQ(first.MaxMs(), all.MaxMs());
  for (double q : {0.01, 0.5, 0.99}) EXPECT_EQ(first.PercentileMs(q), all.PercentileMs(q));
}

TEST(SendScheduleTest, EvenSpacing) {
  SendSchedule schedule(1000);
  EXPECT_EQ(schedule.Offset(0), std::chrono::nanoseconds(0));
  EXPECT_EQ(schedule.Offset(1), std::chrono::milliseconds(1));
  EXPECT_EQ(schedule.Offset(60'000), std::chrono::seconds(60));
  EXPECT_EQ(schedule.FirstIndexAtOrAfter(std::chrono::nanoseconds(-1)), 0u);
  EXPECT_EQ(schedule.FirstIndexAtOrAfter(std::chrono::nanoseconds(0)), 0u);
  EXPECT_EQ(schedule.FirstIndexAtOrAfter(std::chrono::nanoseconds(1)), 1u);
  EXPECT_EQ(schedule.FirstIndexAtOrAfter(std::chrono::seconds(5)), 5000u);
  // Requests due in a 60 s window after a 5 s warm-up.
  EXPECT_EQ(schedule.FirstIndexAtOrAfter(std::chrono::seconds(65)) -
                schedule.FirstIndexAtOrAfter(std::chrono::seconds(5)),
            60'000u);
}

TEST(SendScheduleTest, FirstIndexAgreesWithOffsetForAwkwardRates) {
  for (double rate : {3.0, 7.77, 1'234.5, 999'999.0}) {
    SendSchedule schedule(rate);
    SCOPED_TRACE(rate);
    for (uint64_t index : {1ull, 2ull, 3ull, 1000ull, 123'457ull, 10'000'019ull}) {
      std::chrono::nanoseconds offset = schedule.Offset(index);
      EXPECT_EQ(schedule.FirstIndexAtOrAfter(offset), index);
      // Just after a due time, the next request is the first due.
      EXPECT_EQ(schedule.FirstIndexAtOrAfter(offset + std::chrono::nanoseconds(1)), index + 1);
      EXPECT_LT(schedule.Offset(index - 1), offset);
    }
  }
}

TEST(FormatLoadResultTest, NamesTheSystemAndTheFigures) {
  LoadResult result{.system = "etcd 3.4.23 (3 members)",
                    .submitted = 1000,
                    .committed = 990,
                    .failed = 10,
                    .seconds = 10,
                    .throughput_per_second = 99,
                    .latency_p50_ms = 4.5,
                    .latency_p99_ms = 20.25,
                    .latency_max_ms = 31,
                    .driver_cpu_seconds = 2.5,
                    .first_failure = "HTTP 503"};
  std::string line = FormatLoadResult(result);
  EXPECT_NE(line.find("etcd 3.4.23 (3 members): 99 /s"), std::string::npos) << line;
  EXPECT_NE(line.find("p50 4.50 ms, p99 20.25 ms"), std::string::npos) << line;
  EXPECT_NE(line.find("failed 10"), std::string::npos) << line;
  EXPECT_NE(line.find("driver CPU 25 %"), std::string::npos) << line;
  EXPECT_NE(line.find("first failure: HTTP 503"), std::string::npos) << line;
  EXPECT_EQ(line.find("not sent"), std::string::npos) << line;
}

}  // namespace
}  // namespace vigil::bench
