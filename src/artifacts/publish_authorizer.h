// PublishAuthorizer: who may upload an artifact to a peer's store — the `authorize` callback of
// ArtifactServer, answered from a snapshot of the peer's ledger state.
//
// An upload is accepted when its X-Vigil-Publish-Transaction is a PublishRelease envelope that
// passes the ledger's stateless checks for this chain (strict decoding, limits, signature),
// whose body names exactly this bundle (digest and size), whose signer is a current publisher,
// and whose (app, version) is not already published. So only a publisher can fill a peer's
// disk, and only with the bytes it is about to publish; the transaction itself is submitted
// separately (`vigil publish`) and the ledger's rules decide again.
//
// Why a snapshot and not a question to the peer's event loop: the artifact server's worker
// threads then never wait on the loop (which may be busy executing blocks or catching up),
// and no posted question can outlive the node. The peer refreshes the snapshot after each
// committed block (ApplyBlock) on its own thread; a mutex guards the swap. The snapshot may be
// one block behind the ledger, which is harmless: a publisher removed in the last block can
// still upload bytes it cannot publish.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "artifacts/server.h"
#include "ledger/block.h"
#include "ledger/execute.h"
#include "ledger/state.h"

namespace vigil::artifacts {

class PublishAuthorizer {
 public:
  // A snapshot of `state` (its chain id, publishers and published releases).
  static std::shared_ptr<PublishAuthorizer> FromState(const ledger::State& state);
  explicit PublishAuthorizer(std::string chain_id) : chain_id_(std::move(chain_id)) {}

  // Brings the snapshot up to `state_after`, the state once `block` was executed.
  void ApplyBlock(const ledger::State& state_after, const ledger::Block& block,
                  const ledger::BlockExecution& execution);
  // Replaces the publishers, and records a published release (tests, and ApplyBlock).
  void SetPublishers(std::set<crypto::PublicKey> publishers);
  void AddPublished(std::string app, std::string version);

  // ArtifactServer's AuthorizeFunction contract (server.h) for these errors:
  //   kInvalidArgument   not a decodable PublishRelease for this chain
  //   kUnauthenticated   a signature does not verify
  //   kPermissionDenied  another chain, another bundle or size, or a signer who is no publisher
  //   kAlreadyExists     the (app, version) is already published
  Status Authorize(ByteSpan envelope, const crypto::Sha256Digest& digest,
                   uint64_t total_bytes) const;
  // A callback for ArtifactServerOptions::authorize that keeps this object alive.
  static AuthorizeFunction AsFunction(std::shared_ptr<const PublishAuthorizer> authorizer);

 private:
  std::string chain_id_;
  mutable std::mutex mutex_;
  std::set<crypto::PublicKey> publishers_;
  std::set<std::pair<std::string, std::string>> published_;  // (app, version)
};

}  // namespace vigil::artifacts
