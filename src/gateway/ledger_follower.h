// A gateway's copy of the ledger: it follows the chain block by block, trusting no peer.
//
// Each committed block a peer streams is checked the way a validator checks it, minus the
// voting: its commit certificate against the genesis validators, then `ledger::ExecuteBlock`
// on the follower's own state (header linkage, the previous block's certificate, the
// transactions root, every signature, re-execution, the results root). Only then is it
// applied. A peer that lies (a forged block, altered results, a block from another chain, a
// gap) is caught here with the height and the check that failed, and the follower's state is
// left as it was. The results a peer sends are not trusted either: the follower keeps the
// ones its own execution computed (which the header's results root, signed by 2f+1
// validators, agrees with).
//
// Because it re-executes, the follower holds the whole ledger state — device enrollment and
// revocation, releases, sequences — and answers the gateway's questions from it without a
// round trip or anyone's say-so.
//
//   LedgerFollower follower(genesis);
//   VIGIL_ASSIGN_OR_RETURN(FollowedBlock followed, follower.Apply(committed_block));
//   auto device = ledger::GetDevice(follower.state(), key);
//
// Pure: no I/O, clock or threads. Thread-safety: none; one thread owns a follower.
#pragma once

#include <cstdint>
#include <vector>

#include "api/messages.h"
#include "common/error.h"
#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/state.h"

namespace vigil::gateway {

struct FollowedBlock {
  ledger::Block block;
  // The committed block as verified: its `results` are the follower's own.
  api::CommittedBlock committed;
  std::vector<ledger::TransactionId> transaction_ids;
};

class LedgerFollower {
 public:
  explicit LedgerFollower(const ledger::Genesis& genesis);

  // Verifies `committed` as the next block (height() + 1) and applies it. Errors:
  // kInvalidArgument for a block at another height (the caller asked from the wrong place),
  // kRefused / kCorruption for a block that does not verify (the message names the height and
  // the check), kUnavailable for a block needing a rules version this binary lacks.
  Expected<FollowedBlock> Apply(const api::CommittedBlock& committed);

  uint64_t height() const { return state_.tip().height; }
  const ledger::State& state() const { return state_; }
  const std::string& chain_id() const { return state_.chain_id(); }
  const consensus::ValidatorSet& validators() const { return validators_; }

 private:
  ledger::State state_;
  consensus::ValidatorSet validators_;
};

}  // namespace vigil::gateway
