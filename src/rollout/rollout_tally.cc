#include "rollout/rollout_tally.h"

#include <algorithm>
#include <cmath>

namespace vigil::rollout {

std::string_view MilestoneName(Milestone milestone) {
  switch (milestone) {
    case Milestone::kDownloaded: return "downloaded";
    case Milestone::kInstalled: return "installed";
    case Milestone::kActivated: return "activated";
    case Milestone::kActivationCommitted: return "activation committed";
  }
  return "unknown";
}

std::chrono::milliseconds NearestRank(const std::vector<std::chrono::milliseconds>& sorted,
                                      double quantile) {
  if (sorted.empty()) return std::chrono::milliseconds(0);
  auto rank = static_cast<size_t>(std::ceil(quantile * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

void RolloutTally::Record(size_t device, Milestone milestone,
                          std::chrono::milliseconds since_commit) {
  auto index = static_cast<size_t>(milestone);
  if (device >= times_.size() || index >= kMilestoneCount) {
    ++ignored_;
    return;
  }
  auto& slot = times_[device][index];
  if (slot) return;  // the first time counts
  slot = since_commit;
  ++reached_[index];
}

std::optional<std::chrono::milliseconds> RolloutTally::time(size_t device,
                                                            Milestone milestone) const {
  if (device >= times_.size()) return std::nullopt;
  return times_[device][static_cast<size_t>(milestone)];
}

size_t RolloutTally::reached(Milestone milestone) const {
  return reached_[static_cast<size_t>(milestone)];
}

RolloutSummary RolloutTally::Summarize() const {
  RolloutSummary summary;
  summary.devices = times_.size();
  for (size_t index = 0; index < kMilestoneCount; ++index) {
    std::vector<std::chrono::milliseconds> values;
    values.reserve(times_.size());
    for (const auto& device : times_) {
      if (device[index]) values.push_back(*device[index]);
    }
    std::ranges::sort(values);
    MilestoneSummary& milestone = summary.milestones[index];
    milestone.devices = values.size();
    if (values.empty()) continue;
    milestone.first = values.front();
    milestone.p50 = NearestRank(values, 0.50);
    milestone.p99 = NearestRank(values, 0.99);
    milestone.last = values.back();
  }
  return summary;
}

}  // namespace vigil::rollout
