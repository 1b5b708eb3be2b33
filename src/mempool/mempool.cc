#include "mempool/mempool.h"

#include <algorithm>

#include "common/assert.h"

namespace vigil::mempool {
namespace {

using ledger::ResultCode;

// Reasons name keys by their first 8 bytes, as the ledger's do.
std::string ShortKey(const ledger::PublicKey& key) { return ToHex(ByteSpan(key).first(8)); }

std::optional<ledger::TransactionResult> CheckSize(size_t encoded_bytes) {
  if (encoded_bytes <= limits::kLedgerTransactionBytesMax) return std::nullopt;
  return ledger::Refuse(ResultCode::kMalformed,
                        "transaction of " + std::to_string(encoded_bytes) +
                            " bytes exceeds the limit of " +
                            std::to_string(limits::kLedgerTransactionBytesMax) + " bytes");
}

}  // namespace

// The committed state with the pending transactions' writes on top (docs/ledger.md#overlays).
// The committed State is only lent for the length of one call (`Lend`), never kept: the peer
// moves its state forward between calls, and a kept pointer would outlive a replaced object.
class Mempool::PendingState {
 public:
  class Loan {
   public:
    Loan(PendingState& pending, const ledger::State& state) : pending_(pending) {
      pending_.lent_.state = &state;
    }
    Loan(const Loan&) = delete;
    Loan& operator=(const Loan&) = delete;
    ~Loan() { pending_.lent_.state = nullptr; }

   private:
    PendingState& pending_;
  };

  [[nodiscard]] Loan Lend(const ledger::State& state) { return Loan(*this, state); }
  ledger::Overlay& overlay() { return overlay_; }

 private:
  // Reads through to the state of the current call; asserts when read outside one.
  struct LentState final : ledger::StateReader {
    const Bytes* FindHashed(const ledger::HashedKey& key) const override {
      VIGIL_ASSERT(state != nullptr);
      return state->FindHashed(key);
    }
    void ForEachWithPrefix(const Bytes& prefix, const Visit& visit) const override {
      VIGIL_ASSERT(state != nullptr);
      state->ForEachWithPrefix(prefix, visit);
    }
    const ledger::State* state = nullptr;
  };

  LentState lent_;
  ledger::Overlay overlay_{&lent_};  // after lent_: it keeps a reference to it
};

Expected<ledger::BlockContext> NextBlockContext(const ledger::State& state, int64_t time_ms) {
  uint64_t height = state.tip().height + 1;
  uint32_t version = ledger::RulesVersionAt(state, height);
  const ledger::Rules* rules = ledger::FindRules(version);
  if (rules == nullptr) {
    return Fail(ErrorCode::kUnavailable,
                "block " + std::to_string(height) + " executes under rules version " +
                    std::to_string(version) +
                    ", which this peer does not have; halt and install a Vigil release that "
                    "supports it");
  }
  return ledger::BlockContext{
      .height = height, .time_ms = std::max(time_ms, state.tip().time_ms + 1), .rules = rules};
}

Mempool::Mempool(std::string chain_id, MempoolOptions options, ledger::VerifyFunction verify)
    : chain_id_(std::move(chain_id)),
      options_(options),
      verify_(std::move(verify)),
      pending_state_(std::make_unique<PendingState>()) {
  VIGIL_ASSERT(verify_ != nullptr);
}

Mempool::Mempool(Mempool&&) noexcept = default;
Mempool& Mempool::operator=(Mempool&&) noexcept = default;
Mempool::~Mempool() = default;

StatelessCheck CheckStateless(ByteSpan encoded, std::string_view chain_id,
                              const ledger::VerifyFunction& verify) {
  StatelessCheck result;
  if (auto oversize = CheckSize(encoded.size())) {
    result.checked = std::unexpected(std::move(*oversize));
    return result;
  }
  result.checked = ledger::CheckTransactionStateless(encoded, chain_id, verify);
  result.id = result.checked ? result.checked->id : ledger::ComputeTransactionId(encoded);
  return result;
}

Admission Mempool::Add(Bytes encoded, const ledger::State& state,
                       const ledger::BlockContext& context) {
  FollowState(state, context);
  Admission admission;
  if (auto oversize = CheckSize(encoded.size())) {
    admission.result = std::move(*oversize);
    return admission;
  }
  admission.id = ledger::ComputeTransactionId(encoded);
  // Before any verification: gossip delivers each transaction from several peers.
  if (Contains(admission.id)) {
    admission.duplicate = true;
    return admission;
  }
  // Also before verification, so a full mempool sheds load at the cost of a hash.
  if (auto full = CheckRoom(encoded.size())) {
    admission.result = std::move(*full);
    return admission;
  }
  auto checked = ledger::CheckTransactionStateless(encoded, chain_id_, verify_);
  if (!checked) {
    admission.result = std::move(checked.error());
    return admission;
  }
  AdmitChecked(admission, std::move(*checked), state, context);
  return admission;
}

Admission Mempool::Add(StatelessCheck stateless, const ledger::State& state,
                       const ledger::BlockContext& context) {
  FollowState(state, context);
  Admission admission;
  admission.id = stateless.id;
  if (!stateless.checked) {
    admission.result = std::move(stateless.checked.error());
    return admission;
  }
  VIGIL_ASSERT(stateless.checked->envelope.chain_id == chain_id_);
  if (Contains(admission.id)) {
    admission.duplicate = true;
    return admission;
  }
  if (auto full = CheckRoom(stateless.checked->encoded.size())) {
    admission.result = std::move(*full);
    return admission;
  }
  AdmitChecked(admission, std::move(*stateless.checked), state, context);
  return admission;
}

void Mempool::AdmitChecked(Admission& admission, ledger::CheckedTransaction checked,
                           const ledger::State& state, const ledger::BlockContext& context) {
  if (auto full = CheckSignerRoom(checked.envelope.signer)) {
    admission.result = std::move(*full);
    return;
  }
  {
    // On success ExecuteTransaction merges the writes into the overlay, so the next admission
    // sees this one (sequence n+1, an enrolled device...); a refusal leaves it untouched.
    auto loan = pending_state_->Lend(state);
    admission.result = ledger::ExecuteTransaction(pending_state_->overlay(), checked, context);
  }
  if (admission.admitted()) Insert(std::move(checked));
}

std::vector<Bytes> Mempool::Reap(size_t transactions_max, size_t bytes_max) const {
  std::vector<Bytes> candidates;
  for (const ledger::CheckedTransaction* transaction : ReapChecked(transactions_max, bytes_max)) {
    candidates.push_back(transaction->encoded);
  }
  return candidates;
}

std::vector<const ledger::CheckedTransaction*> Mempool::ReapChecked(size_t transactions_max,
                                                                    size_t bytes_max) const {
  std::vector<const ledger::CheckedTransaction*> candidates;
  candidates.reserve(std::min(transactions_max, pending_.size()));
  size_t total_bytes = 0;
  for (const auto& [admission, transaction] : pending_) {
    // Stop at the first that does not fit rather than skip it: a later transaction may depend
    // on it (its signer's next sequence, a device it enrols).
    if (candidates.size() >= transactions_max) break;
    if (transaction.encoded.size() > bytes_max - total_bytes) break;
    total_bytes += transaction.encoded.size();
    candidates.push_back(&transaction);
  }
  return candidates;
}

std::vector<std::pair<ledger::TransactionId, ledger::TransactionResult>> Mempool::Update(
    std::span<const ledger::TransactionId> committed, const ledger::State& state,
    const ledger::BlockContext& next_context) {
  VIGIL_ASSERT(state.chain_id() == chain_id_);
  VIGIL_ASSERT(next_context.height == state.tip().height + 1);
  for (const ledger::TransactionId& id : committed) {
    auto found = admission_of_.find(id);
    if (found != admission_of_.end()) Remove(pending_.find(found->second));
  }
  // The old overlay's writes were computed on the previous state: start over on the new one.
  base_tip_ = state.tip();
  pending_state_ = std::make_unique<PendingState>();
  auto loan = pending_state_->Lend(state);
  std::vector<std::pair<ledger::TransactionId, ledger::TransactionResult>> evicted;
  for (auto position = pending_.begin(); position != pending_.end();) {
    ledger::TransactionResult result =
        ledger::ExecuteTransaction(pending_state_->overlay(), position->second, next_context);
    if (result.ok()) {
      ++position;
      continue;
    }
    evicted.emplace_back(position->second.id, std::move(result));
    position = Remove(position);
  }
  return evicted;
}

void Mempool::FollowState(const ledger::State& state, const ledger::BlockContext& context) {
  VIGIL_ASSERT(state.chain_id() == chain_id_);
  VIGIL_ASSERT(context.height == state.tip().height + 1);
  if (state.tip() == base_tip_) return;
  // The overlay's writes were computed on base_tip_'s state and would be wrong on another. With
  // nothing pending there are none (only admissions write), so any state will do.
  VIGIL_ASSERT(pending_.empty() && "a block was applied without calling Mempool::Update");
  base_tip_ = state.tip();
  pending_state_ = std::make_unique<PendingState>();
}

std::optional<ledger::TransactionResult> Mempool::CheckRoom(size_t encoded_bytes) const {
  if (pending_.size() >= options_.transactions_max) {
    return ledger::Refuse(ResultCode::kLimitReached,
                          "mempool full: " + std::to_string(pending_.size()) +
                              " transactions pending, the limit (transactions_max); retry after "
                              "the next block");
  }
  if (encoded_bytes > options_.bytes_max - bytes_) {
    return ledger::Refuse(ResultCode::kLimitReached,
                          "mempool full: " + std::to_string(bytes_) + " bytes pending, and " +
                              std::to_string(encoded_bytes) + " more would exceed the limit of " +
                              std::to_string(options_.bytes_max) +
                              " bytes (bytes_max); retry after the next block");
  }
  return std::nullopt;
}

std::optional<ledger::TransactionResult> Mempool::CheckSignerRoom(
    const ledger::PublicKey& signer) const {
  auto found = pending_per_signer_.find(signer);
  if (found == pending_per_signer_.end() || found->second < options_.per_signer_max) {
    return std::nullopt;
  }
  return ledger::Refuse(ResultCode::kLimitReached,
                        "signer " + ShortKey(signer) + " already has " +
                            std::to_string(found->second) +
                            " transactions pending, the limit per signer (per_signer_max); retry "
                            "after the next block");
}

void Mempool::Insert(ledger::CheckedTransaction transaction) {
  uint64_t admission = next_admission_++;
  bytes_ += transaction.encoded.size();
  ++pending_per_signer_[transaction.envelope.signer];
  admission_of_.emplace(transaction.id, admission);
  pending_.emplace(admission, std::move(transaction));
}

std::map<uint64_t, ledger::CheckedTransaction>::iterator Mempool::Remove(
    std::map<uint64_t, ledger::CheckedTransaction>::iterator position) {
  VIGIL_ASSERT(position != pending_.end());
  const ledger::CheckedTransaction& transaction = position->second;
  bytes_ -= transaction.encoded.size();
  auto signer = pending_per_signer_.find(transaction.envelope.signer);
  VIGIL_ASSERT(signer != pending_per_signer_.end() && signer->second > 0);
  if (--signer->second == 0) pending_per_signer_.erase(signer);
  admission_of_.erase(transaction.id);
  return pending_.erase(position);
}

}  // namespace vigil::mempool
