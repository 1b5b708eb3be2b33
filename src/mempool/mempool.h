// The mempool: the transactions a ledger peer has admitted but no block has committed yet, in
// the order the next blocks should hold them (docs/mempool.md).
//
// A pure, deterministic core like the ledger it fronts: no clock, no I/O, no threads. The peer
// lends it the committed `ledger::State` on each call and tells it when blocks commit.
//
//   SignatureCache cache;
//   Mempool mempool(state.chain_id(), {}, cache.AsVerifyFunction());
//   BlockContext next = NextBlockContext(state, now_ms).value();
//   Admission admission = mempool.Add(std::move(bytes), state, next);  // answer the client
//   std::vector<Bytes> candidates = mempool.Reap(rules.block_transactions_max, bytes_max);
//   ... BuildBlock(state, candidates, ...), consensus commits, ApplyBlock(state, execution) ...
//   auto evicted = mempool.Update(execution.transaction_ids, state, NextBlockContext(...));
//
// Admission (`Add`), cheapest refusal first: size → duplicate of a pending transaction (ok,
// `duplicate`) → mempool full → the ledger's stateless check (decoding, chain id, signatures,
// through the injected verify function) → too many pending for this signer → the ledger's
// stateful rules on the committed state *with every pending transaction applied on top*, so a
// signer may have sequences n+1, n+2, ... pending, and a device enrolled by a pending
// transaction may already report. A refusal is the ledger's result (code and reason), or
// kLimitReached for the mempool's own bounds; it changes nothing.
//
// Order: admission order. Because a signer's next sequence must follow its pending ones, that
// is also each signer's sequence order, and any transaction that depends on another pending one
// (a report from a device whose enrolment is pending) comes after it. `Reap` therefore returns
// a prefix of that order, never skipping one, so a block never holds a dependant without its
// dependency.
//
// Recheck (`Update`): after blocks commit, the committed transactions leave and every other one
// is executed again, in order, on the new state (no signature is verified again: the decoded,
// verified transaction is kept). Those the new state refuses — a sequence another peer's
// transaction used, a device revoked meanwhile, the gap left by an evicted predecessor — are
// evicted and returned with their reason, for the peer to tell waiting clients.
//
// Costs: Add is O(log n) plus one stateless and one stateful check; Reap is O(returned);
// Update is O(pending) executions. Memory is bounded by MempoolOptions (count and encoded bytes;
// each entry also holds its decoded form, about twice its encoded size).
//
// Thread-safety: none; one thread owns it. Ownership: it keeps no reference to the State it is
// lent, only to the verify function's target (e.g. a SignatureCache, which must outlive it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "ledger/execute.h"
#include "ledger/state.h"
#include "ledger/transaction.h"
#include "mempool/signature_cache.h"

namespace vigil::mempool {

struct MempoolOptions {
  size_t transactions_max = limits::kMempoolTransactionsDefault;
  size_t bytes_max = limits::kMempoolBytesDefault;  // sum of encoded transaction sizes
  size_t per_signer_max = limits::kMempoolPerSignerDefault;
};

struct Admission {
  // SHA-256 of the bytes (ledger::ComputeTransactionId); all zero when they exceed the ledger's
  // transaction size limit, since such bytes are refused before being hashed.
  ledger::TransactionId id{};
  // kOk when admitted (or already pending: `duplicate` true). Otherwise the refusal with a
  // human-readable reason: the stateless check's (malformed, wrong chain, bad signature), the
  // stateful check's (bad sequence, unauthorized, below threshold, exists, not newer, ...), or
  // kLimitReached when the mempool is full or the signer has too many pending, naming the limit.
  ledger::TransactionResult result;
  bool duplicate = false;
  bool admitted() const { return result.ok(); }
};

// What admission checks without any state: the size limit, then the ledger's stateless check
// (decoding, chain id, signatures). Split out so that a peer can run it on its verifier threads
// and hand the decoded transaction to `Add`, which then neither decodes nor verifies again.
struct StatelessCheck {
  // As Admission::id: all zero when the bytes exceed the size limit.
  ledger::TransactionId id{};
  std::expected<ledger::CheckedTransaction, ledger::TransactionResult> checked;
};
// Pure; thread-safe as far as `verify` is.
StatelessCheck CheckStateless(ByteSpan encoded, std::string_view chain_id,
                              const ledger::VerifyFunction& verify);

// The context the mempool checks against: the block after `state`'s tip, at `time_ms` (the
// peer's clock), or 1 ms after the tip's time when `time_ms` is not later (block times increase).
// kUnavailable when the rules version in force at that height is one this peer does not have
// (halt and upgrade, as ExecuteBlock would).
Expected<ledger::BlockContext> NextBlockContext(const ledger::State& state, int64_t time_ms);

class Mempool {
 public:
  // `verify` is used for the stateless check (pass SignatureCache::AsVerifyFunction()).
  Mempool(std::string chain_id, MempoolOptions options, ledger::VerifyFunction verify);
  Mempool(Mempool&&) noexcept;
  Mempool& operator=(Mempool&&) noexcept;
  ~Mempool();

  // Admits `encoded` if the next block could apply it after the pending ones (see above).
  // `state` is the committed state and `context` the next block's (NextBlockContext). While
  // transactions are pending, `state` must be at the tip Update last saw: applying a block
  // without calling Update is a programmer error and asserts.
  Admission Add(Bytes encoded, const ledger::State& state, const ledger::BlockContext& context);
  // The same for a transaction whose stateless check ran already (CheckStateless with this
  // mempool's chain id): the stateless refusal, if any, is the answer; otherwise admission goes
  // on from the duplicate check.
  Admission Add(StatelessCheck checked, const ledger::State& state,
                const ledger::BlockContext& context);

  // Candidates for the next block: the longest prefix of the admission order with at most
  // `transactions_max` transactions and `bytes_max` encoded bytes in total. Pass them to
  // ledger::BuildBlock (which adds the block's own framing to its size limit).
  std::vector<Bytes> Reap(size_t transactions_max, size_t bytes_max) const;
  // The same candidates, decoded and verified, for ledger::BuildBlock's checked overload. The
  // pointers are valid until the mempool next changes (Add, Update, destruction).
  std::vector<const ledger::CheckedTransaction*> ReapChecked(size_t transactions_max,
                                                             size_t bytes_max) const;

  // After one or more blocks are applied to `state`: removes the committed transactions
  // (`committed`: their ids; ids not pending are ignored), then re-executes every remaining one
  // in order on `state` under `next_context` and evicts those it refuses. Returns the evicted
  // ones, in admission order, with their refusals.
  std::vector<std::pair<ledger::TransactionId, ledger::TransactionResult>> Update(
      std::span<const ledger::TransactionId> committed, const ledger::State& state,
      const ledger::BlockContext& next_context);

  bool Contains(const ledger::TransactionId& id) const { return admission_of_.contains(id); }
  size_t size() const { return pending_.size(); }
  size_t bytes() const { return bytes_; }  // sum of the pending transactions' encoded sizes
  const MempoolOptions& options() const { return options_; }

 private:
  class PendingState;

  // Asserts `state` and `context` fit the pending transactions; rebases an empty mempool.
  void FollowState(const ledger::State& state, const ledger::BlockContext& context);
  std::optional<ledger::TransactionResult> CheckRoom(size_t encoded_bytes) const;
  std::optional<ledger::TransactionResult> CheckSignerRoom(const ledger::PublicKey& signer) const;
  // Admission's stateful part, after the stateless check passed: signer room, then execution
  // on the pending state; admits on success.
  void AdmitChecked(Admission& admission, ledger::CheckedTransaction checked,
                    const ledger::State& state, const ledger::BlockContext& context);
  void Insert(ledger::CheckedTransaction transaction);
  // Returns the position after the removed one.
  std::map<uint64_t, ledger::CheckedTransaction>::iterator Remove(
      std::map<uint64_t, ledger::CheckedTransaction>::iterator position);

  std::string chain_id_;
  MempoolOptions options_;
  ledger::VerifyFunction verify_;

  // Pending transactions by admission number: iteration order is the block order.
  std::map<uint64_t, ledger::CheckedTransaction> pending_;
  uint64_t next_admission_ = 0;
  // Ordered maps rather than hash maps: O(log n) whatever ids and keys a sender chooses.
  std::map<ledger::TransactionId, uint64_t> admission_of_;
  std::map<ledger::PublicKey, size_t> pending_per_signer_;
  size_t bytes_ = 0;

  // The committed state with every pending transaction's writes on top, and the tip of the
  // committed state those writes were computed on.
  std::unique_ptr<PendingState> pending_state_;
  ledger::ChainTip base_tip_;
};

}  // namespace vigil::mempool
