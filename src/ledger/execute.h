// Executing transactions and blocks: the ledger's contract rules as a pure function of
// (state, block). No I/O, clock, randomness or threads: the daemon passes time in through the
// block header, and every peer that executes the same blocks reaches the same state hashes.
//
// Which transactions a block may hold (docs/ledger.md#inclusion):
//  - A transaction that fails the stateless check (decoding, chain id, signatures) never
//    enters a block; a block holding one is invalid.
//  - A transaction the rules refuse (unknown signer, below threshold, version not newer, ...)
//    may be included: it gets its refusal as its result, committed and provable, and changes
//    nothing at all (not even its signer's sequence). Because only success consumes the
//    sequence, it can apply at most once; a signer cancels a pending intent by using its
//    sequence for another transaction.
//  - A mempool runs CheckTransactionStateless, then CheckTransactionStateful on its overlay,
//    and answers refusals itself; a committed refusal then only happens when the state changed
//    between admission and inclusion, or when a Byzantine proposer includes one.
//  - BuildBlock leaves out transactions whose sequence is already used (replays: dropped) or
//    ahead of the next one (deferred to a later block), since a result would tell nobody
//    anything; ExecuteBlock accepts them with a kBadSequence result from a Byzantine proposer.
//
// Thread-safety: pure functions over values the caller owns.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/rules.h"
#include "ledger/state.h"
#include "ledger/transaction.h"

namespace vigil::ledger {

struct BlockContext {
  uint64_t height = 0;
  int64_t time_ms = 0;
  const Rules* rules = nullptr;
};

// Stateful rules for one transaction that passed the stateless check. Writes go to `state`
// only when the result is kOk; a refusal leaves `state` untouched.
TransactionResult ExecuteTransaction(Overlay& state, const CheckedTransaction& transaction,
                                     const BlockContext& context);

// For the mempool: would this transaction be accepted on top of `state` (the committed state,
// or an overlay holding the mempool's earlier transactions)? Writes nothing.
// A kBadSequence refusal names the signer's next sequence ("...; the next is N"): a client
// without a sequence of its own (an operator's command) reads it here and signs again.
std::optional<uint64_t> NextSequenceNamedBy(const TransactionResult& refusal);

TransactionResult CheckTransactionStateful(const StateReader& state,
                                           const CheckedTransaction& transaction,
                                           const BlockContext& context);

// The rules version in force at `height` (the effective one, or a scheduled one from its
// height on), and the Rules for it if this peer has them.
uint32_t RulesVersionAt(const StateReader& state, uint64_t height);

// Why a peer whose newest rules version is `rules_version_max` cannot execute block `height`
// of `state`'s chain (the next one, or a later one once it is reached), or Ok when it can.
// kUnavailable, naming the version needed and the height from which it is needed.
Status CheckRulesAvailable(const StateReader& state, uint64_t height, uint32_t rules_version_max);

// The same decisions on the RulesRecord alone, for callers without a ledger state (the
// consensus simulator's rules-activation scenarios, docs/testing.md#rules-activations); the
// two above read the record and call these.
uint32_t RulesVersionAt(const RulesRecord& rules, uint64_t height);
// `versions_have`: the rules versions this peer can execute, ascending (what
// SupportedRulesVersions returns). Same Ok or kUnavailable message as above.
Status CheckRulesAvailable(const RulesRecord& rules, uint64_t height,
                           std::span<const uint32_t> versions_have);
// The record after block `height` accepted an activate-rules transaction for `version` from
// `at_height` (docs/ledger.md#activate-rules): the version in force at `height` stays, and
// the switch is scheduled, replacing a pending one — or, for the version in force, the
// pending switch is cancelled. The refusals (not in the future, no support) are the
// transaction's, before this.
RulesRecord RulesAfterActivation(const RulesRecord& rules, uint64_t height, uint32_t version,
                                 uint64_t at_height);

struct BlockExecution {
  std::vector<TransactionId> transaction_ids;
  std::vector<TransactionResult> results;
  WriteSet writes;  // what the block changes; storage persists it with the block
  merkle::Hash results_root{};
  ChainTip tip;  // after the block: its height, hash, state hash (for the next header), time
};

struct ExecuteOptions {
  // Signature checks for transactions and the commit certificate (a daemon may pass a cache).
  VerifyFunction verify = DefaultVerifyFunction();
  // The newest rules version this peer may execute (`vigil peer --max-rules-version`
  // simulates an older binary): a block under a later one is kUnavailable.
  uint32_t rules_version_max = UINT32_MAX;
};

// Validates `block` as the next block on `state` and executes it: header fields against the
// tip (chain id, height, previous hash, time, state hash, rules version, proposer), the last
// commit against the validators, the transactions root, every transaction's stateless check
// and no duplicates, then re-execution and the results root. Errors: kRefused for an invalid
// block (the message says which check), kUnavailable when the block needs a rules version
// this peer lacks (halt and upgrade).
Expected<BlockExecution> ExecuteBlock(const State& state, const Block& block,
                                      const ExecuteOptions& options = {});
// ExecuteBlock without keeping the result: consensus's IsValid.
Status ValidateBlock(const State& state, const Block& block, const ExecuteOptions& options = {});
// Moves `state` past the executed block.
void ApplyBlock(State& state, const BlockExecution& execution);

struct BuildOptions {
  int64_t time_ms = 0;  // must be later than the tip's time
  PublicKey proposer{};
  std::optional<consensus::CommitCertificate> last_commit;  // required above height 1
  ExecuteOptions execute;
  // Tests only (a Byzantine proposer): keep candidates whose sequence is already used, which
  // ExecuteBlock accepts with a bad-sequence result, instead of dropping them.
  bool keep_replays = false;
};

struct LeftOut {
  TransactionId id{};
  TransactionResult result;
};

struct BuiltBlock {
  Block block;
  BlockExecution execution;
  std::vector<LeftOut> dropped;   // never includable: stateless failures, replays, duplicates
  std::vector<LeftOut> deferred;  // sequence ahead of the signer's next, or the block is full
};

// The proposer's side: picks candidates in order, executes them, and fills the header. Height,
// previous block hash, state hash and rules version come from `state`'s tip, so the proposer
// cannot get them wrong. The result passes ExecuteBlock on the same state (tests check this).
Expected<BuiltBlock> BuildBlock(const State& state, std::span<const Bytes> candidates,
                                const BuildOptions& options);
// The same for candidates that passed CheckTransactionStateless for this chain already (a
// mempool's): they are not decoded or verified again.
Expected<BuiltBlock> BuildBlock(const State& state,
                                std::span<const CheckedTransaction* const> candidates,
                                const BuildOptions& options);

}  // namespace vigil::ledger
