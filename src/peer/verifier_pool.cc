#include "peer/verifier_pool.h"

#include <asio/post.hpp>

#include "ledger/transaction.h"
#include "mempool/signature_cache.h"

namespace vigil::peer {

std::vector<crypto::Sha256Digest> VerifiedSignatureEntries(ByteSpan transaction) {
  std::vector<crypto::Sha256Digest> entries;
  auto envelope = ledger::DecodeEnvelope(transaction);
  if (!envelope) return entries;
  Bytes message = ledger::TransactionSignBytes(*envelope);
  for (const auto& signature : envelope->signatures) {
    if (crypto::Verify(signature.public_key, message, signature.signature)) {
      entries.push_back(
          mempool::SignatureCache::EntryOf(signature.public_key, message, signature.signature));
    }
  }
  return entries;
}

// Loop-thread state, shared with the completions posted back (which may outlive the pool).
struct VerifierPool::Shared {
  struct Result {
    Bytes transaction;
    std::vector<crypto::Sha256Digest> entries;
  };
  bool stopped = false;
  uint64_t next_ticket = 0;
  uint64_t next_to_deliver = 0;
  std::map<uint64_t, Done> waiting;      // ticket → completion
  std::map<uint64_t, Result> finished;   // ticket → result, until its turn comes

  void Deliver() {
    while (!stopped) {
      auto result = finished.find(next_to_deliver);
      if (result == finished.end()) return;
      auto done = waiting.find(next_to_deliver);
      Done callback = std::move(done->second);
      Result value = std::move(result->second);
      waiting.erase(done);
      finished.erase(result);
      ++next_to_deliver;
      callback(std::move(value.transaction), std::move(value.entries));
    }
  }
};

VerifierPool::VerifierPool(asio::io_context& loop, size_t threads)
    : loop_(loop), shared_(std::make_shared<Shared>()), workers_(std::max<size_t>(1, threads)) {}

VerifierPool::~VerifierPool() {
  shared_->stopped = true;
  workers_.join();
}

size_t VerifierPool::in_flight() const { return shared_->waiting.size(); }

void VerifierPool::Submit(Bytes transaction, Done done) {
  uint64_t ticket = shared_->next_ticket++;
  shared_->waiting.emplace(ticket, std::move(done));
  std::weak_ptr<Shared> weak = shared_;
  asio::post(workers_, [weak, ticket, transaction = std::move(transaction), &loop = loop_]() mutable {
    auto entries = VerifiedSignatureEntries(transaction);
    asio::post(loop, [weak, ticket, transaction = std::move(transaction),
                      entries = std::move(entries)]() mutable {
      auto shared = weak.lock();
      if (!shared || shared->stopped) return;
      shared->finished.emplace(ticket,
                               Shared::Result{std::move(transaction), std::move(entries)});
      shared->Deliver();
    });
  });
}

}  // namespace vigil::peer
