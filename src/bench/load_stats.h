// bench: system load drivers for `vigil bench NAME`, and what they measure.
//
// This header holds what the Vigil and the etcd drivers share: the load to offer (`LoadSpec`),
// the result of a run (`LoadResult`), a latency histogram (`LatencyRecorder`) and the open-loop
// send schedule (`SendSchedule`). The etcd driver is in bench/etcd_load.h.
//
// How a run is measured (both drivers must do the same, or their ratio means nothing):
//   - The clock starts once the driver is connected. Requests whose send time falls in the
//     first `warmup` are sent but not counted; those whose send time falls in the following
//     `duration` are the measured window; later ones are not sent.
//   - A request's latency runs from its send time to its commit reply. In the closed loop the
//     send time is when the request was written. In the open loop it is the time the schedule
//     says it should have been written (`SendSchedule`), even when every connection was busy
//     then: a stalled server makes the waiting requests late, and that lateness is its latency
//     (no coordinated omission, as in wrk2 and HdrHistogram).
//   - throughput = committed requests of the window / the window's length. The closed loop
//     measures capacity; an open loop offered more than the system sustains reports growing
//     latencies and `not_sent`, and its throughput understates capacity (requests still queued
//     from the warm-up take their turn first but are not counted).
//
// Thread-safety: plain values and single-threaded classes; merge per-thread recorders.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace vigil::bench {

// Limits of the load drivers. They belong with the others in common/limits.h; they live here
// until that file gets a bench section.
//
// Latencies above this are recorded as this (an hour: far beyond any request timeout).
inline constexpr std::chrono::microseconds kLatencyMax = std::chrono::hours(1);
// Requests in flight at once: one connection (one file descriptor) each.
inline constexpr size_t kLoadConcurrencyMax = 16384;
// Bytes of one value; etcd refuses requests above 1.5 MiB (--max-request-bytes) and the JSON
// gateway carries values in base64 (4/3 larger).
inline constexpr size_t kLoadValueBytesMax = 512 * 1024;
// Open-loop offered load, and run lengths.
inline constexpr double kLoadOfferedPerSecondMax = 10'000'000;
inline constexpr std::chrono::seconds kLoadDurationMax = std::chrono::hours(24);

struct LoadSpec {
  std::chrono::seconds duration{60};  // the measured window
  std::chrono::seconds warmup{5};     // sent before the window, not counted
  double offered_per_second = 0;      // 0: as fast as possible (closed loop with `concurrency`)
  size_t concurrency = 256;           // requests in flight at most (connections)
  size_t value_bytes = 256;
};

// Latency samples and throughput of one load run, shared by the Vigil and etcd drivers.
struct LoadResult {
  std::string system;  // "vigil (4 peers)", "etcd 3.4.23 (3 members)"
  // Requests of the measured window: written, committed (acknowledged as durable), and failed
  // (an error reply, a broken connection, or no reply within the request timeout).
  uint64_t submitted = 0, committed = 0, failed = 0;
  // Open loop only: requests the schedule had due in the window that the driver never wrote,
  // because all `concurrency` connections were busy until the window closed. Non-zero means the
  // offered load exceeded what the system (or the concurrency limit) sustains.
  uint64_t not_sent = 0;
  double seconds = 0;                // measured window (after warm-up)
  double throughput_per_second = 0;  // committed / seconds
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  // CPU time the load driver itself used during the window (its thread), so a reader can tell
  // whether the client or the system was the bottleneck: 1.0 x seconds is one full core.
  double driver_cpu_seconds = 0;
  std::string first_failure;  // what went wrong first, when failed > 0
};

// One line for people: "etcd 3.4.23 (3 members): 5,120 /s, p50 41.2 ms, p99 88.0 ms, ...".
std::string FormatLoadResult(const LoadResult& result);

// A latency histogram: constant memory, O(1) Add, quantiles within 0.4 %.
//
// Values are whole microseconds. Below 512 µs each value has its own bucket (exact); above,
// each power of two is split into 256 buckets, so a bucket spans at most 1/256 of its lower
// edge (the layout of HdrHistogram with 2.4 significant digits). A quantile reports the upper
// edge of its bucket, clamped to the largest value seen, so it never understates a latency.
// Thread-safety: none; give each thread its own recorder and Merge them.
class LatencyRecorder {
 public:
  void Add(std::chrono::microseconds latency);
  void Merge(const LatencyRecorder& other);

  // The smallest recorded latency L (to within a bucket) such that at least a fraction `q` of
  // the samples are <= L (nearest rank); q in [0, 1]. 0 when nothing was recorded.
  double PercentileMs(double q) const;
  double MaxMs() const;
  size_t count() const { return count_; }

 private:
  static constexpr int kSubBucketBits = 8;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // kLatencyMax (3.6e9 µs) < 2^32: shifts up to 32 - 1 - kSubBucketBits.
  static constexpr size_t kBuckets = kSubBuckets * (32 - kSubBucketBits + 1);
  static_assert(kLatencyMax.count() < (int64_t{1} << 32));

  static size_t BucketOf(uint64_t microseconds);
  static uint64_t UpperEdgeOf(size_t bucket);

  std::array<uint64_t, kBuckets> buckets_{};
  size_t count_ = 0;
  uint64_t max_microseconds_ = 0;
};

// Intended send times of an open-loop run: request k is due `Offset(k)` after the start,
// k / offered_per_second seconds, whatever happened to earlier requests.
class SendSchedule {
 public:
  explicit SendSchedule(double offered_per_second);  // > 0 and <= kLoadOfferedPerSecondMax

  std::chrono::nanoseconds Offset(uint64_t index) const;
  // The first request due at or after `offset` (so requests [First(a), First(b)) are those due
  // in [a, b)).
  uint64_t FirstIndexAtOrAfter(std::chrono::nanoseconds offset) const;

 private:
  double offered_per_second_;
};

}  // namespace vigil::bench
