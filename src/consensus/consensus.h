// Tendermint BFT consensus as a pure, deterministic state machine.
//
// This is Algorithm 1 of Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus"
// (arXiv 1807.04938v3), with voting power: "2f+1" means more than 2/3 of the total voting power,
// "f+1" more than 1/3. Line numbers in comments ("line 36") are the paper's. Design and wire
// format: docs/consensus.md.
//
// Like etcd-io/raft, nothing in here touches a disk, a network, a clock, a thread or a random
// number: the inputs are messages (`Step`), timeout firings (`OnTimeout`), a gossip tick
// (`OnGossipTick`) and the current time (passed to every input); the outputs are gathered in one
// `Ready` record that the caller takes with `TakeReady()` and executes in its stated order:
// persist BEFORE send. Signing is deterministic (Ed25519) and goes through the injected
// `Signer`, so the machine stays pure; so does the proposer's value (`ValueSource`).
//
//   Consensus consensus(config, &signer, value_source, verifier);
//   consensus.Start(height, validators, now_ms);
//   for (;;) {
//     ... consensus.Step(message, now_ms) / OnTimeout(timeout, now_ms) / OnGossipTick(now_ms)
//     Ready ready = consensus.TakeReady();
//     if (ready.persist) wal.WriteAndSync(EncodeDurableState(*ready.persist));  // 1. persist
//     if (ready.decision) store.Commit(*ready.decision);                           // 2. commit
//     for (auto& message : ready.messages) network.Broadcast(message);             // 3. send
//     for (auto& timer : ready.timers) clock.Schedule(timer);                      // 4. timers
//     if (ready.decision) consensus.Start(height + 1, next_validators, now_ms);
//   }
//
// Crash safety: `DurableState` holds the height, round, step, lock, valid value and the
// messages signed at this height. A validator rebuilt with `Restore` from the last persisted
// DurableState never signs a second, different message for a (height, round, step) it signed
// before the crash: signatures only move forward in (height, round, step), and asking for a
// vote it already signed returns the stored one.
//
// Thread-safety: none; one thread drives one Consensus (STYLE.md rule 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "consensus/proposer.h"
#include "consensus/types.h"

namespace vigil::consensus {

// DO NOT CHANGE the numeric values: persisted in DurableState.
enum class RoundStep : uint8_t {
  kPropose = 1,
  kPrevote = 2,
  kPrecommit = 3,
};
std::string_view RoundStepName(RoundStep step);

// DO NOT CHANGE the numeric values.
enum class TimeoutKind : uint8_t {
  kPropose = 1,    // line 21 schedules, line 57 handles
  kPrevote = 2,    // line 35 schedules, line 61 handles
  kPrecommit = 3,  // line 48 schedules, line 65 handles
};
std::string_view TimeoutKindName(TimeoutKind kind);

struct Timeout {
  TimeoutKind kind = TimeoutKind::kPropose;
  uint64_t height = 0;
  uint32_t round = 0;
  int64_t duration_ms = 0;  // fire this long after the input that produced it
  friend bool operator==(const Timeout&, const Timeout&) = default;
};

struct Config {
  std::string chain_id;
  // timeoutX(round) = X + round x delta (the paper's section 3.1), capped at kConsensusTimeoutMax.
  std::chrono::milliseconds timeout_propose = limits::kConsensusTimeoutProposeDefault;
  std::chrono::milliseconds timeout_prevote = limits::kConsensusTimeoutPrevoteDefault;
  std::chrono::milliseconds timeout_precommit = limits::kConsensusTimeoutPrecommitDefault;
  std::chrono::milliseconds timeout_delta = limits::kConsensusTimeoutDeltaDefault;

  int64_t TimeoutDurationMs(TimeoutKind kind, uint32_t round) const;
};
Status CheckConfig(const Config& config);

// The application side of consensus, injected. Both functions must be deterministic: IsValid is
// the paper's valid(v) and must give the same answer on every correct node for the same
// (height, value), or agreement on validity is lost.
class ValueSource {
 public:
  virtual ~ValueSource() = default;
  // The paper's getValue() (line 18): a new value for this node to propose. `now_ms` is the
  // input's time, so a block may carry a timestamp without a clock inside consensus.
  virtual Bytes GetValue(uint64_t height, uint32_t round, int64_t now_ms) = 0;
  virtual bool IsValid(uint64_t height, ByteSpan value) = 0;
  // The paper's id(v): what votes, proposals' signatures and commit certificates name. The
  // default is SHA-256 of the value. The ledger names a block by its header hash instead, so a
  // light client can check a header and its certificate without the transactions; any id must
  // still commit to the whole value, i.e. IsValid must refuse a value whose id does not bind
  // all of it (a header whose roots do not match its transactions). An error means the value
  // is malformed: a proposal carrying it is refused.
  virtual Expected<ValueId> IdOf(ByteSpan value) { return ComputeValueId(value); }
};

// The validator's key. Ed25519 signing is deterministic, so signing keeps the machine pure.
class Signer {
 public:
  virtual ~Signer() = default;
  virtual const PublicKey& public_key() const = 0;
  virtual Signature Sign(ByteSpan message) const = 0;
};

class Ed25519Signer final : public Signer {
 public:
  // `key` must outlive the signer.
  explicit Ed25519Signer(const crypto::PrivateKey& key) : key_(key) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Signature Sign(ByteSpan message) const override { return key_.Sign(message); }

 private:
  const crypto::PrivateKey& key_;
};

// Signature checks, injected so a simulator can cache results across its nodes. Must be a pure
// function of its arguments.
class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;
  virtual bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) = 0;
};

class Ed25519Verifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) override {
    return crypto::Verify(key, message, signature);
  }
};

struct RoundValue {
  uint32_t round = 0;
  Bytes value;
  friend bool operator==(const RoundValue&, const RoundValue&) = default;
};

// What must be on stable storage before any message of the same Ready is sent: the signing
// state of this validator at its current height. Versioned record (docs/consensus.md#wal).
struct DurableState {
  uint64_t height = 0;
  uint32_t round = 0;
  RoundStep step = RoundStep::kPropose;
  std::optional<RoundValue> locked;  // lockedValue / lockedRound (lines 5-6, set at line 38)
  std::optional<RoundValue> valid;   // validValue / validRound (lines 7-8, set at line 42)
  // The 2f+1 PREVOTE(h, validRound, id(validValue)) that justify `valid`: a proposal that
  // re-proposes validValue (line 16) is accepted by others only with them (line 28), so they
  // must survive a crash like the lock does (CometBFT keeps them in its WAL for this reason).
  std::vector<Vote> valid_prevotes;
  // The latest messages signed at `height`. Signing only moves forward in (round, step), so
  // these say both what was signed and what may no longer be signed.
  std::optional<Proposal> last_proposal;
  std::optional<Vote> last_prevote;
  std::optional<Vote> last_precommit;
  // This node's votes of earlier rounds of `height` (the last kConsensusRoundsBehindMax rounds),
  // re-sent by gossip: a node still in such a round may need exactly one of them, and after a
  // crash this record is the only place it still exists (CometBFT's WAL plays this part).
  std::vector<Vote> earlier_votes;
  friend bool operator==(const DurableState&, const DurableState&) = default;
};
Bytes EncodeDurableState(const DurableState& state);
Expected<DurableState> DecodeDurableState(ByteSpan bytes);

struct Decision {
  uint64_t height = 0;
  uint32_t round = 0;
  Bytes value;
  CommitCertificate certificate;
  int64_t decided_at_ms = 0;
};

// Everything one batch of inputs produced. The caller executes it in this order:
//   1. persist   — write `persist` and sync it. Persist BEFORE send: a vote that left the
//                  process must be remembered, or a restarted validator could sign a second,
//                  different vote for the same height/round/step.
//   2. decision  — commit the decided value with its certificate (the caller's store).
//   3. messages  — broadcast to every validator (including evidence, line-for-line gossip).
//   4. timers    — schedule each timeout `duration_ms` from now; fire it with OnTimeout.
struct Ready {
  std::optional<DurableState> persist;
  std::optional<Decision> decision;
  std::vector<Message> messages;
  std::vector<Timeout> timers;
  std::vector<Evidence> evidence;  // newly learned; also kept in Consensus::evidence()

  bool empty() const {
    return !persist && !decision && messages.empty() && timers.empty() && evidence.empty();
  }
};

class Consensus {
 public:
  // `signer` may be null: the node then follows and decides but never votes (an observer), also
  // when its key is not in a height's validator set. References must outlive the Consensus.
  Consensus(Config config, const Signer* signer, ValueSource& values, SignatureVerifier& verifier);

  // Begins `height` (line 10 at the first height, line 54 after a decision) with the
  // validators of that height. Heights only move forward.
  void Start(uint64_t height, ValidatorSet validators, int64_t now_ms);
  // Resumes after a crash from the last persisted DurableState; `validators` are those of
  // `state.height`. Never signs anything conflicting with `state`.
  void Restore(const DurableState& state, ValidatorSet validators, int64_t now_ms);

  // One received message. Messages for other heights are ignored (the caller answers nodes
  // behind with a Commit; see docs/consensus.md#catching-up). Returns an error for a message
  // that is malformed or badly signed: the caller may count it against the sender.
  Status Step(const Message& message, int64_t now_ms);
  // A timer from an earlier Ready fired (lines 57-67).
  void OnTimeout(const Timeout& timeout, int64_t now_ms);
  // Periodic re-send of this round's proposal and votes, so that lost messages are recovered
  // (the paper's gossip assumption: every message eventually reaches every correct node).
  void OnGossipTick(int64_t now_ms);

  bool HasReady() const { return !ready_.empty(); }
  Ready TakeReady();

  uint64_t height() const { return durable_.height; }
  uint32_t round() const { return durable_.round; }
  RoundStep step() const { return durable_.step; }
  bool decided() const { return decided_; }
  const DurableState& durable_state() const { return durable_; }
  const std::vector<Evidence>& evidence() const { return evidence_; }
  std::optional<uint32_t> validator_index() const { return own_index_; }
  const ValidatorSet& validators() const { return proposers_->validators(); }
  uint32_t Proposer(uint32_t round) { return proposers_->Proposer(durable_.height, round); }
  // One line on what this node holds for `round` (proposal, vote power by value), for traces.
  std::string DescribeRound(uint32_t round) const;
  // Signatures the guard refused (a request to sign below the last signed step). Zero in a
  // correct run; tests assert it.
  uint64_t refused_signatures() const { return refused_signatures_; }

 private:
  struct ReceivedProposal {
    Proposal proposal;
    ValueId id{};
    bool valid = false;  // valid(v), evaluated once
  };
  struct VoteTally {
    // The first vote of each validator: what gossip re-sends and what "any" quorums count.
    std::vector<std::optional<Vote>> by_validator;
    // Later, different votes of an equivocating validator that still count toward their value
    // (nil, or a value this node holds a proposal for); at most kConsensusConflictingVotesMax.
    std::vector<std::vector<Vote>> conflicting;
    // Each (validator, value) counted once.
    std::map<std::optional<ValueId>, uint64_t> power_by_value;
    // Each validator counted once (lines 34 and 47: "2f+1 of any").
    uint64_t total_power = 0;

    // Every counted vote for `id`, the first vote of each validator before its later ones.
    template <typename Visit>
    void ForEachVoteFor(const std::optional<ValueId>& id, Visit visit) const {
      for (size_t i = 0; i < by_validator.size(); ++i) {
        if (by_validator[i] && by_validator[i]->value_id == id) {
          visit(*by_validator[i]);
          continue;
        }
        for (const Vote& vote : conflicting[i]) {
          if (vote.value_id == id) visit(vote);
        }
      }
    }
  };
  struct RoundState {
    std::optional<ReceivedProposal> proposal;
    VoteTally prevotes;
    VoteTally precommits;
    bool prevote_timeout_scheduled = false;    // line 34, "for the first time"
    bool precommit_timeout_scheduled = false;  // line 47, "for the first time"
    bool prevote_quorum_handled = false;       // line 36, "for the first time"
  };

  void ResetHeight(ValidatorSet validators);
  RoundState& Round(uint32_t round);
  const RoundState* FindRound(uint32_t round) const;
  bool InWindow(uint32_t round) const;

  Status OnProposal(const Proposal& proposal);
  Status OnVote(const Vote& vote);
  Status OnEvidence(const Evidence& evidence);
  Status OnCommit(const Commit& commit);
  void AddVote(const Vote& vote);
  void AddConflictingVote(const Vote& vote);
  void AddVoteAnyway(const Vote& vote);
  bool HoldsProposalFor(const ValueId& id) const;
  void AddEvidence(const Evidence& evidence);
  void NoteRoundSeen(uint32_t validator_index, uint32_t round);

  // The upon rules, re-evaluated until none fires (the paper executes them atomically).
  void Evaluate();
  bool UponDecide();              // lines 49-54
  bool UponRoundSkip();           // lines 55-56
  bool UponProposal();            // lines 22-27
  bool UponProposalValidRound();  // lines 28-33
  bool UponPrevoteAny();          // lines 34-35
  bool UponPrevoteValue();        // lines 36-43
  bool UponPrevoteNil();          // lines 44-46
  bool UponPrecommitAny();        // lines 47-48

  void StartRound(uint32_t round);  // lines 11-21
  void Decide(uint32_t round, const Bytes& value, CommitCertificate certificate);
  void BroadcastVote(VoteType type, std::optional<ValueId> id);
  void ScheduleTimeout(TimeoutKind kind);
  CommitCertificate BuildCertificate(uint32_t round, const ValueId& id) const;
  bool Verify(uint32_t validator_index, ByteSpan message, const Signature& signature);
  void MarkDurableChanged() { durable_changed_ = true; }

  Config config_;
  const Signer* signer_;
  ValueSource& values_;
  SignatureVerifier& verifier_;

  std::optional<ProposerSelector> proposers_;
  std::optional<uint32_t> own_index_;
  DurableState durable_;
  bool durable_changed_ = false;
  bool started_ = false;
  bool decided_ = false;
  int64_t now_ms_ = 0;
  std::map<uint32_t, RoundState> rounds_;
  // Per validator, the highest round of any message seen at this height (line 55).
  std::vector<uint32_t> highest_round_seen_;
  std::vector<Evidence> evidence_;
  Ready ready_;
  uint64_t refused_signatures_ = 0;
};

}  // namespace vigil::consensus
