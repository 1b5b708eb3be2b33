// Verifies transactions' signatures on worker threads, so the peer's event loop only does what
// needs the state (the mempool's stateful check). Ed25519 verification is most of a
// transaction's cost (~80 µs of ~120 µs here); on a 2-core machine this lets one peer use both.
//
// A worker decodes the envelope and verifies each signature (pure functions, no shared
// state); the loop thread gets back the SignatureCache entries of the signatures that passed,
// remembers them, and then admits the transaction as usual — the mempool's stateless check
// then hits the cache. Nothing is trusted that the loop would not have computed itself: a
// failure just means the mempool verifies again and refuses with its reason.
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
#include <vector>

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace vigil::peer {

class VerifierPool {
 public:
  // `done(transaction, entries)`: the SignatureCache entries of the signatures that verified.
  using Done = std::function<void(Bytes transaction, std::vector<crypto::Sha256Digest> entries)>;

  VerifierPool(asio::io_context& loop, size_t threads);
  // Waits for the workers; completions not yet delivered are dropped.
  ~VerifierPool();
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  void Submit(Bytes transaction, Done done);
  size_t in_flight() const;

 private:
  struct Shared;
  asio::io_context& loop_;
  std::shared_ptr<Shared> shared_;
  asio::thread_pool workers_;
};

// What a worker computes: the entries of the signatures of `transaction` that verify (empty
// when the envelope does not decode). Pure.
std::vector<crypto::Sha256Digest> VerifiedSignatureEntries(ByteSpan transaction);

}  // namespace vigil::peer
