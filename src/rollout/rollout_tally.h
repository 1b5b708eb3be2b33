// What a rollout benchmark measured of each device, and the summary it prints: a pure core
// (no clock, no I/O) fed with each device's milestones as offsets from the publish's commit.
//
//   RolloutTally tally(1000);
//   tally.Record(device_index, Milestone::kActivated, std::chrono::milliseconds(8400));
//   RolloutSummary summary = tally.Summarize();   // counts, last, p50, p99 per milestone
//
// A milestone recorded twice for a device keeps the first time (a device reports a release
// once; a second report would be a retry). Indices outside [0, devices) are ignored and
// counted (`ignored()`), so a bench bug shows up in the figures rather than as a crash.
//
// Thread-safety: none; the bench guards it with a mutex.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace vigil::rollout {

// How far one device got with the release, in the order it gets there.
enum class Milestone : uint8_t {
  kDownloaded = 0,          // the bundle is complete and matches the ledger's digest
  kInstalled = 1,           // unpacked, every file verified, staged (`installed` being reported)
  kActivated = 2,           // switched to the new slot; `activated` being reported
  kActivationCommitted = 3  // the ledger committed the device's `activated` report
};
inline constexpr size_t kMilestoneCount = 4;
std::string_view MilestoneName(Milestone milestone);  // "downloaded", "installed", ...

struct MilestoneSummary {
  size_t devices = 0;  // how many reached it
  // Over the devices that reached it, from the publish's commit; zero when none did.
  std::chrono::milliseconds first{0}, p50{0}, p99{0}, last{0};
};

struct RolloutSummary {
  size_t devices = 0;
  std::array<MilestoneSummary, kMilestoneCount> milestones{};
  const MilestoneSummary& operator[](Milestone milestone) const {
    return milestones[static_cast<size_t>(milestone)];
  }
  // Every device reached `milestone`.
  bool all(Milestone milestone) const { return (*this)[milestone].devices == devices; }
};

// Nearest rank: the smallest value with at least `quantile` of the values at or below it.
// `values` must be sorted; empty gives zero.
std::chrono::milliseconds NearestRank(const std::vector<std::chrono::milliseconds>& sorted,
                                      double quantile);

class RolloutTally {
 public:
  explicit RolloutTally(size_t devices) : times_(devices) {}

  void Record(size_t device, Milestone milestone, std::chrono::milliseconds since_commit);
  std::optional<std::chrono::milliseconds> time(size_t device, Milestone milestone) const;
  size_t reached(Milestone milestone) const;
  size_t ignored() const { return ignored_; }
  RolloutSummary Summarize() const;

 private:
  std::vector<std::array<std::optional<std::chrono::milliseconds>, kMilestoneCount>> times_;
  std::array<size_t, kMilestoneCount> reached_{};
  size_t ignored_ = 0;
};

}  // namespace vigil::rollout
