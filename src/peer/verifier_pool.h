// Runs the stateless part of admission (size, decoding, chain id, signatures) on worker
// threads, so the peer's event loop only does what needs the state (the mempool's stateful
// check). Ed25519 verification is most of a transaction's cost (~80 µs of ~120 µs here); on a
// 2-core machine this lets one peer use both.
//
// A worker runs mempool::CheckStateless with crypto::Verify (pure functions, no shared state);
// the loop thread gets back its result — the decoded transaction or the refusal — and the
// SignatureCache entries of the signatures that verified. It remembers the entries (a block
// holding the transaction is then validated without verifying again) and hands the decoded
// transaction to the mempool, which neither decodes nor verifies it again.
//
// Completions run on the loop thread in submission order, so a signer's transactions reach
// the mempool in the order they arrived (sequence n before n + 1).
//
// Thread-safety: Submit and the destructor on the loop thread; completions run there too.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "mempool/mempool.h"

namespace vigil::peer {

// What a worker computes.
struct VerifiedTransaction {
  mempool::StatelessCheck check;
  // The SignatureCache entries of the signatures that verified.
  std::vector<crypto::Sha256Digest> entries;
};
// Pure: the worker's computation.
VerifiedTransaction VerifyTransaction(ByteSpan transaction, std::string_view chain_id);

class VerifierPool {
 public:
  using Done = std::function<void(VerifiedTransaction verified)>;

  // Checks transactions for the chain `chain_id`.
  VerifierPool(asio::io_context& loop, size_t threads, std::string chain_id);
  // Waits for the workers; completions not yet delivered are dropped.
  ~VerifierPool();
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  void Submit(Bytes transaction, Done done);
  size_t in_flight() const;

 private:
  struct Shared;
  asio::io_context& loop_;
  std::string chain_id_;
  std::shared_ptr<Shared> shared_;
  asio::thread_pool workers_;
};

}  // namespace vigil::peer
