#include "bench/load_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "common/assert.h"

namespace vigil::bench {

std::string FormatLoadResult(const LoadResult& result) {
  std::string line = fmt::format(
      "{}: {:.0f} /s committed over {:.1f} s, latency p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} "
      "ms; submitted {}, committed {}, failed {}",
      result.system, result.throughput_per_second, result.seconds, result.latency_p50_ms,
      result.latency_p99_ms, result.latency_max_ms, result.submitted, result.committed,
      result.failed);
  if (result.not_sent > 0) line += fmt::format(", not sent {}", result.not_sent);
  if (result.seconds > 0) {
    line += fmt::format("; driver CPU {:.0f} % of a core",
                        100 * result.driver_cpu_seconds / result.seconds);
  }
  if (!result.first_failure.empty()) line += "; first failure: " + result.first_failure;
  return line;
}

// Below 2 x kSubBuckets a value is its own bucket. Above, `shift` halvings bring it into
// [kSubBuckets, 2 x kSubBuckets), and buckets continue from there: index = shift x kSubBuckets
// + (value >> shift), which is 2 x kSubBuckets at value = 2 x kSubBuckets (shift 1).
size_t LatencyRecorder::BucketOf(uint64_t microseconds) {
  if (microseconds < 2 * kSubBuckets) return microseconds;
  int shift = static_cast<int>(std::bit_width(microseconds)) - 1 - kSubBucketBits;
  return shift * kSubBuckets + (microseconds >> shift);
}

uint64_t LatencyRecorder::UpperEdgeOf(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  uint64_t shift = bucket / kSubBuckets - 1;
  uint64_t sub_bucket = bucket - shift * kSubBuckets;  // in [kSubBuckets, 2 x kSubBuckets)
  return ((sub_bucket + 1) << shift) - 1;
}

void LatencyRecorder::Add(std::chrono::microseconds latency) {
  uint64_t microseconds = std::clamp<int64_t>(latency.count(), 0, kLatencyMax.count());
  size_t bucket = BucketOf(microseconds);
  VIGIL_ASSERT(bucket < kBuckets);
  ++buckets_[bucket];
  ++count_;
  max_microseconds_ = std::max(max_microseconds_, microseconds);
}

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  for (size_t bucket = 0; bucket < kBuckets; ++bucket) buckets_[bucket] += other.buckets_[bucket];
  count_ += other.count_;
  max_microseconds_ = std::max(max_microseconds_, other.max_microseconds_);
}

double LatencyRecorder::PercentileMs(double q) const {
  VIGIL_ASSERT(q >= 0 && q <= 1);
  if (count_ == 0) return 0;
  // Nearest rank: the rank-th smallest sample, rank = ceil(q x count), at least 1.
  uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t bucket = 0; bucket < kBuckets; ++bucket) {
    seen += buckets_[bucket];
    if (seen >= rank) {
      return static_cast<double>(std::min(UpperEdgeOf(bucket), max_microseconds_)) / 1000.0;
    }
  }
  return MaxMs();
}

double LatencyRecorder::MaxMs() const { return static_cast<double>(max_microseconds_) / 1000.0; }

SendSchedule::SendSchedule(double offered_per_second) : offered_per_second_(offered_per_second) {
  VIGIL_ASSERT(offered_per_second > 0 && offered_per_second <= kLoadOfferedPerSecondMax);
}

std::chrono::nanoseconds SendSchedule::Offset(uint64_t index) const {
  long double nanoseconds = static_cast<long double>(index) * 1e9L / offered_per_second_;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::floor(nanoseconds)));
}

uint64_t SendSchedule::FirstIndexAtOrAfter(std::chrono::nanoseconds offset) const {
  if (offset.count() <= 0) return 0;
  // A guess from the inverse, then corrected against Offset itself, so the two always agree.
  long double guess = static_cast<long double>(offset.count()) * offered_per_second_ / 1e9L;
  uint64_t index = static_cast<uint64_t>(std::ceil(guess));
  while (index > 0 && Offset(index - 1) >= offset) --index;
  while (Offset(index) < offset) ++index;
  return index;
}

}  // namespace vigil::bench
