// Weighted round-robin choice of the proposer of each (height, round).
//
// CometBFT's proposer-priority algorithm without re-centering (the "smooth weighted
// round-robin" of nginx): every pick adds each validator's voting power to its priority, picks
// the highest priority (ties to the lowest index) and subtracts the total power from the
// winner. Started from all-zero priorities, every window of `total_voting_power` consecutive
// picks chooses each validator exactly `voting_power` times, spread evenly.
//
// Pick number k = height + round (counted from zero priorities), so every node computes the
// same proposer from the validator set alone, a new height moves to the next proposer, and a
// failed round moves to the next one too. Priorities stay within (-total, +total), so int64 is
// safe for totals up to limits::kConsensusTotalVotingPowerMax.
//
// Thread-safety: not thread-safe (caches its position); one per Consensus.
#pragma once

#include <cstdint>
#include <vector>

#include "consensus/types.h"

namespace vigil::consensus {

class ProposerSelector {
 public:
  explicit ProposerSelector(ValidatorSet validators);

  // The proposer index of pick `height + round`. Cost: O(n) per pick from the cached position,
  // or from a checkpoint kept at the last round 0 asked for (so going back to an earlier round
  // of the current height is cheap). Only a pick before that checkpoint restarts from zero:
  // O((height + round) x n) once, e.g. the first query after a restart.
  uint32_t Proposer(uint64_t height, uint32_t round);

  const ValidatorSet& validators() const { return validators_; }

 private:
  void Reset();
  uint32_t Advance();

  ValidatorSet validators_;
  struct Position {
    std::vector<int64_t> priorities;
    uint64_t picks_done = 0;
    uint32_t last_pick = 0;
  };
  Position current_;
  Position checkpoint_;  // at the last round 0 asked for
};

}  // namespace vigil::consensus
