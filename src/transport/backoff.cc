#include "transport/backoff.h"

#include <algorithm>

#include "common/assert.h"

namespace vigil::transport {

Backoff::Backoff(BackoffOptions options, uint64_t seed)
    : options_(options), random_(seed), previous_delay_ms_(options.delay_initial.count()) {
  VIGIL_ASSERT(options_.delay_initial.count() >= 0);
  VIGIL_ASSERT(options_.delay_initial <= options_.delay_max);
  VIGIL_ASSERT(options_.multiplier >= 1);
}

int64_t Backoff::Uniform(int64_t low, int64_t high) {
  VIGIL_ASSERT(low <= high);
  auto range = static_cast<unsigned __int128>(high - low) + 1;
  // Lemire's multiply-shift: maps 64 random bits onto the range with negligible bias.
  auto scaled = (static_cast<unsigned __int128>(random_()) * range) >> 64;
  return low + static_cast<int64_t>(scaled);
}

int64_t Backoff::ExponentialCeilingMs() const {
  int64_t ceiling = options_.delay_initial.count();
  const int64_t max_ms = options_.delay_max.count();
  // Stops multiplying once the cap is reached, so no overflow however many attempts.
  for (uint32_t attempt = 0; attempt < attempts_ && ceiling < max_ms; ++attempt) {
    ceiling = std::max<int64_t>(ceiling * options_.multiplier, 1);
  }
  return std::min(ceiling, max_ms);
}

std::chrono::milliseconds Backoff::NextDelay() {
  int64_t delay_ms = 0;
  switch (options_.jitter) {
    case Jitter::kNone:
      delay_ms = ExponentialCeilingMs();
      break;
    case Jitter::kFull:
      delay_ms = Uniform(0, ExponentialCeilingMs());
      break;
    case Jitter::kDecorrelated: {
      const int64_t initial_ms = options_.delay_initial.count();
      int64_t high =
          std::max(initial_ms, std::min(previous_delay_ms_ * 3, options_.delay_max.count()));
      delay_ms = std::min(Uniform(initial_ms, high), options_.delay_max.count());
      break;
    }
  }
  previous_delay_ms_ = std::max<int64_t>(delay_ms, options_.delay_initial.count());
  if (attempts_ < UINT32_MAX) ++attempts_;
  return std::chrono::milliseconds(delay_ms);
}

void Backoff::Reset() {
  attempts_ = 0;
  previous_delay_ms_ = options_.delay_initial.count();
}

}  // namespace vigil::transport
