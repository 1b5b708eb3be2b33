#include "gateway/ledger_follower.h"

#include "ledger/execute.h"

namespace vigil::gateway {

LedgerFollower::LedgerFollower(const ledger::Genesis& genesis)
    : state_(ledger::GenesisState(genesis)), validators_(ledger::GenesisValidatorSet(genesis)) {}

Expected<FollowedBlock> LedgerFollower::Apply(const api::CommittedBlock& committed) {
  uint64_t expected_height = height() + 1;
  if (committed.height != expected_height) {
    return Fail(ErrorCode::kInvalidArgument,
                "expected block " + std::to_string(expected_height) + ", received block " +
                    std::to_string(committed.height));
  }
  // The certificate first: it is cheap next to re-execution, and a block without 2f+1
  // precommits is not worth executing.
  auto block = api::VerifyCommittedBlock(validators_, chain_id(), committed);
  if (!block) {
    return std::unexpected(block.error().WithContext("block " + std::to_string(committed.height)));
  }
  auto execution = ledger::ExecuteBlock(state_, *block);
  if (!execution) {
    return std::unexpected(
        execution.error().WithContext("block " + std::to_string(committed.height)));
  }
  ledger::ApplyBlock(state_, *execution);

  FollowedBlock followed;
  followed.committed.height = committed.height;
  followed.committed.block = committed.block;
  followed.committed.certificate = committed.certificate;
  followed.committed.results = execution->results;
  followed.transaction_ids = execution->transaction_ids;
  followed.block = std::move(*block);
  return followed;
}

}  // namespace vigil::gateway
