#include "peer/verifier_pool.h"

#include <asio/post.hpp>

#include "ledger/transaction.h"
#include "mempool/signature_cache.h"

namespace vigil::peer {

VerifiedTransaction VerifyTransaction(ByteSpan transaction, std::string_view chain_id) {
  VerifiedTransaction verified;
  ledger::VerifyFunction verify_and_record = [&verified](const crypto::PublicKey& key,
                                                         ByteSpan message,
                                                         const crypto::Signature& signature) {
    if (!crypto::Verify(key, message, signature)) return false;
    verified.entries.push_back(mempool::SignatureCache::EntryOf(key, message, signature));
    return true;
  };
  verified.check = mempool::CheckStateless(transaction, chain_id, verify_and_record);
  return verified;
}

// Loop-thread state, shared with the completions posted back (which may outlive the pool).
struct VerifierPool::Shared {
  bool stopped = false;
  uint64_t next_ticket = 0;
  uint64_t next_to_deliver = 0;
  std::map<uint64_t, Done> waiting;      // ticket → completion
  std::map<uint64_t, VerifiedTransaction> finished;  // ticket → result, until its turn

  void Deliver() {
    while (!stopped) {
      auto result = finished.find(next_to_deliver);
      if (result == finished.end()) return;
      auto done = waiting.find(next_to_deliver);
      Done callback = std::move(done->second);
      VerifiedTransaction value = std::move(result->second);
      waiting.erase(done);
      finished.erase(result);
      ++next_to_deliver;
      callback(std::move(value));
    }
  }
};

VerifierPool::VerifierPool(asio::io_context& loop, size_t threads, std::string chain_id)
    : loop_(loop),
      chain_id_(std::move(chain_id)),
      shared_(std::make_shared<Shared>()),
      workers_(std::max<size_t>(1, threads)) {}

VerifierPool::~VerifierPool() {
  shared_->stopped = true;
  workers_.join();
}

size_t VerifierPool::in_flight() const { return shared_->waiting.size(); }

void VerifierPool::Submit(Bytes transaction, Done done) {
  uint64_t ticket = shared_->next_ticket++;
  shared_->waiting.emplace(ticket, std::move(done));
  std::weak_ptr<Shared> weak = shared_;
  // The workers read chain_id_ while the pool lives; the destructor joins them first.
  asio::post(workers_, [weak, ticket, transaction = std::move(transaction), &loop = loop_,
                        chain_id = std::string_view(chain_id_)]() mutable {
    VerifiedTransaction verified = VerifyTransaction(transaction, chain_id);
    asio::post(loop, [weak, ticket, verified = std::move(verified)]() mutable {
      auto shared = weak.lock();
      if (!shared || shared->stopped) return;
      shared->finished.emplace(ticket, std::move(verified));
      shared->Deliver();
    });
  });
}

}  // namespace vigil::peer
