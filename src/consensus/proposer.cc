#include "consensus/proposer.h"

namespace vigil::consensus {

ProposerSelector::ProposerSelector(ValidatorSet validators) : validators_(std::move(validators)) {
  Reset();
}

void ProposerSelector::Reset() {
  priorities_.assign(validators_.size(), 0);
  picks_done_ = 0;
  last_pick_ = 0;
}

uint32_t ProposerSelector::Advance() {
  const auto total = static_cast<int64_t>(validators_.total_voting_power());
  uint32_t best = 0;
  for (uint32_t i = 0; i < priorities_.size(); ++i) {
    priorities_[i] += static_cast<int64_t>(validators_.at(i).voting_power);
    if (priorities_[i] > priorities_[best]) best = i;
  }
  priorities_[best] -= total;
  ++picks_done_;
  last_pick_ = best;
  return best;
}

uint32_t ProposerSelector::Proposer(uint64_t height, uint32_t round) {
  // Pick number k (0-based) is the (k + 1)-th call of Advance.
  const uint64_t picks_needed = height + round + 1;
  if (picks_needed < picks_done_) Reset();
  while (picks_done_ < picks_needed) Advance();
  return last_pick_;
}

}  // namespace vigil::consensus
