// Publishing a release: what `vigil publish BUNDLE --key DIR` does, as a library the CLI, the
// demo and the benchmarks call (docs/cli.md#vigil-publish). It prints nothing.
//
//   VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster("/tmp/c"));
//   VIGIL_ASSIGN_OR_RETURN(PublishRequest request, RequestForCluster(cluster, "app-1.2.0.vigil"));
//   VIGIL_ASSIGN_OR_RETURN(PublishOutcome outcome, PublishBundle(request, {}));
//
// The steps, in the order that makes each refusal cheap and leaves nothing half-done:
//  1. verify the bundle locally (release::VerifyBundle): a broken bundle is refused before
//     anything touches the network;
//  2. compute what the ledger records: the bundle's SHA-256 and size, the manifest root;
//  3. connect to a peer (the first of `peers` that answers) and sign the PublishRelease with
//     the peer's chain id; the stateless check runs locally, so a bad signature is refused
//     before any byte is uploaded;
//  4. upload to every artifact store (artifacts::UploadArtifact: resumable, a second run
//     continues where an interrupted one stopped); at least one must hold the bundle, or the
//     transaction is NOT submitted — the ledger never records a release nobody can fetch;
//  5. submit and wait for the block that commits it; return what the ledger recorded, and,
//     given the genesis, the transaction's proof verified against its validators.
//
// The sequence. The client API has no account query, so the publisher's next sequence is found
// by asking the ledger itself: the transaction is submitted with a first guess (the request's
// `sequence`, or 1), and a bad-sequence refusal — which every peer gives at admission, naming
// the signer's next sequence counting its pending transactions ("... the next is N") — is
// answered by signing again with N (ledger::NextSequenceNamedBy, beside the rule that writes
// the sentence). That costs one extra round trip per publish and no scan of the chain. The
// artifact store does not look at the sequence, so the upload is done once.
//
// Refusals are errors with one clear sentence each (the CLI prints it after "vigil publish: "):
//   kCorruption        the bundle fails verification (nothing sent)
//   kUnauthenticated   the transaction's signature does not verify (nothing sent)
//   kPermissionDenied  the key is not a publisher on this chain (nothing submitted)
//   kUnavailable       no artifact store holds the bundle (nothing submitted), or no peer
//   kAlreadyExists     the (app, version) is already published (also by this very bundle:
//                      the same signed transaction, answered with its earlier commit)
//   kRefused           the version is not newer than the app's latest, or another rule
//   kTimeout           no commit within `commit_timeout` (the transaction may still commit)
//
// Thread-safety: PublishBundle shares nothing between calls; progress callbacks run on the
// calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "artifacts/client.h"
#include "common/error.h"
#include "common/limits.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"

namespace vigil::publish {

struct PeerAddress {
  std::string host;
  uint16_t port = 0;
};

// Signs the transaction's sign bytes. The default (empty `sign`) is the key directory's
// key.pem; a key kept in an HSM or a remote signer plugs in here.
struct Signer {
  crypto::PublicKey public_key{};
  std::function<crypto::Signature(ByteSpan message)> sign;
};

struct PublishRequest {
  std::filesystem::path bundle;
  // key.pem (the publisher's key), cert.pem (its client certificate, role publisher) and ca.pem
  // (the fleet CA, trusted for the peers and their artifact stores).
  std::filesystem::path key_directory;
  std::vector<PeerAddress> peers;  // client API addresses, tried in order until one answers
  std::vector<artifacts::MirrorUrl> artifact_stores;  // each one gets the upload
  std::string notes;
  // The chain's genesis.json: when set, the committed transaction's proof is verified against
  // its validators before it is returned.
  std::optional<std::filesystem::path> genesis;
  std::optional<Signer> signer;      // default: key_directory/key.pem
  std::optional<uint64_t> sequence;  // first guess; default 1 (see "The sequence" above)
  size_t upload_chunk_bytes = limits::kArtifactUploadChunkBytesDefault;
  std::chrono::milliseconds commit_timeout = limits::kPublishCommitTimeoutDefault;
};

// Every peer of a local cluster (`vigil cluster up`) and its artifact store, the cluster's
// publisher key directory and its genesis.
Expected<PublishRequest> RequestForCluster(const peer::Cluster& cluster,
                                           const std::filesystem::path& bundle);

enum class Stage { kVerifying, kConnecting, kUploading, kSubmitting, kDone };
std::string_view StageName(Stage stage);

struct PublishProgress {
  std::function<void(Stage stage)> on_stage;  // may be empty
  // After each chunk sent to `store` (the first call says where a resumed upload starts).
  std::function<void(const artifacts::MirrorUrl& store, uint64_t bytes_done,
                     uint64_t bytes_total)>
      on_upload;  // may be empty
};

struct StoreUpload {
  std::string url;
  bool stored = false;           // the store holds the bundle now
  uint64_t resumed_from_bytes = 0;  // what an earlier, interrupted upload had left there
  std::string problem;           // why not, when !stored
};

struct PublishOutcome {
  std::string app;
  std::string version;
  crypto::Sha256Digest bundle_digest{};
  uint64_t bundle_size_bytes = 0;
  crypto::Sha256Digest manifest_root{};
  size_t files = 0;
  crypto::PublicKey publisher{};
  uint64_t sequence = 0;
  uint32_t submissions = 0;  // 1, or more when the first sequence guess was refused
  std::vector<StoreUpload> uploads;
  // What the ledger recorded.
  ledger::TransactionId transaction_id{};
  uint64_t height = 0;
  uint64_t index = 0;
  ledger::TransactionResult result;
  // Set when the request named a genesis: the proof verified, and the block's time.
  bool verified = false;
  int64_t block_time_ms = 0;
  std::string peer;  // host:port that answered
};

Expected<PublishOutcome> PublishBundle(const PublishRequest& request,
                                       const PublishProgress& progress);

}  // namespace vigil::publish
