#include "consensus/proposer.h"

namespace vigil::consensus {

ProposerSelector::ProposerSelector(ValidatorSet validators) : validators_(std::move(validators)) {
  Reset();
}

void ProposerSelector::Reset() {
  current_ = Position{std::vector<int64_t>(validators_.size(), 0), 0, 0};
  checkpoint_ = current_;
}

uint32_t ProposerSelector::Advance() {
  const auto total = static_cast<int64_t>(validators_.total_voting_power());
  std::vector<int64_t>& priorities = current_.priorities;
  uint32_t best = 0;
  for (uint32_t i = 0; i < priorities.size(); ++i) {
    priorities[i] += static_cast<int64_t>(validators_.at(i).voting_power);
    if (priorities[i] > priorities[best]) best = i;
  }
  priorities[best] -= total;
  ++current_.picks_done;
  current_.last_pick = best;
  return best;
}

uint32_t ProposerSelector::Proposer(uint64_t height, uint32_t round) {
  // Pick number k (0-based) is the (k + 1)-th call of Advance.
  const uint64_t picks_needed = height + round + 1;
  if (picks_needed < current_.picks_done) {
    if (picks_needed >= checkpoint_.picks_done) {
      current_ = checkpoint_;
    } else {
      Reset();
    }
  }
  while (current_.picks_done < picks_needed) Advance();
  if (round == 0) checkpoint_ = current_;
  return current_.last_pick;
}

}  // namespace vigil::consensus
