// Delays between reconnection attempts: exponential growth, capped, with jitter so that a
// fleet of devices that lost its gateway at the same moment does not reconnect in lockstep.
//
// Pure: randomness comes from a seeded std::mt19937_64 owned by the Backoff, so a test (or
// the simulator) replays the exact sequence of delays from its seed.
//
//   kNone         delay = min(max, initial * multiplier^attempt)
//   kFull         delay = uniform[0, min(max, initial * multiplier^attempt)]
//                 (AWS "full jitter": spreads a herd best, may retry immediately)
//   kDecorrelated delay = min(max, uniform[initial, previous * 3])
//                 (AWS "decorrelated jitter": never below initial, grows from the last delay)
//
// Thread-safety: a Backoff is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "common/limits.h"

namespace vigil::transport {

enum class Jitter : uint8_t { kNone, kFull, kDecorrelated };

struct BackoffOptions {
  std::chrono::milliseconds delay_initial = limits::kReconnectDelayInitial;
  std::chrono::milliseconds delay_max = limits::kReconnectDelayMax;
  // Growth factor per attempt for kNone and kFull (kDecorrelated grows by up to 3x).
  uint32_t multiplier = 2;
  Jitter jitter = Jitter::kDecorrelated;
};

class Backoff {
 public:
  Backoff(BackoffOptions options, uint64_t seed);

  // The delay before the next attempt; counts the attempt.
  std::chrono::milliseconds NextDelay();
  // After a successful session: the next delay starts from delay_initial again.
  void Reset();

  // Attempts since construction or the last Reset().
  uint32_t attempts() const { return attempts_; }
  const BackoffOptions& options() const { return options_; }

 private:
  // Uniform in [low, high], reproducible across standard libraries (unlike
  // std::uniform_int_distribution, whose algorithm is unspecified).
  int64_t Uniform(int64_t low, int64_t high);
  int64_t ExponentialCeilingMs() const;

  BackoffOptions options_;
  std::mt19937_64 random_;
  uint32_t attempts_ = 0;
  int64_t previous_delay_ms_;
};

}  // namespace vigil::transport
