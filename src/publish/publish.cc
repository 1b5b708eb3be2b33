#include "publish/publish.h"

#include <memory>
#include <utility>

#include "api/client.h"
#include "api/messages.h"
#include "common/bytes.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "pki/pki.h"
#include "release/bundle.h"
#include "release/manifest.h"

namespace vigil::publish {
namespace {

// Hex characters of a key in a sentence: enough to tell keys apart, short enough to read.
constexpr size_t kShortKeyHexCharacters = 16;
// Connecting to one peer's client API (a mutual-TLS handshake on a LAN takes milliseconds).
constexpr std::chrono::milliseconds kPeerConnectTimeout{5'000};
// What the ledger's publish refusals start with; the sentence says "the ledger refused" instead.
constexpr std::string_view kPublishRefusedPrefix = "publish refused: ";

std::string ShortKey(const crypto::PublicKey& key) {
  return ToHex(key).substr(0, kShortKeyHexCharacters);
}

void ReportStage(const PublishProgress& progress, Stage stage) {
  if (progress.on_stage) progress.on_stage(stage);
}

std::string Address(const PeerAddress& peer) { return peer.host + ":" + std::to_string(peer.port); }

struct Connected {
  std::unique_ptr<api::ApiClient> client;
  api::StatusResponse status;
  std::string address;
};

// The first peer that answers, or why none did.
Expected<Connected> ConnectToAnyPeer(const std::vector<PeerAddress>& peers,
                                     const pki::NodeCredentials& credentials) {
  if (peers.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no peer to submit to: pass --peer or --cluster");
  }
  std::string problems;
  for (const PeerAddress& peer : peers) {
    auto client = api::ApiClient::Connect(credentials, peer.host, peer.port, kPeerConnectTimeout);
    auto status = client ? (*client)->Status(kPeerConnectTimeout)
                         : Expected<api::StatusResponse>(std::unexpected(client.error()));
    if (status) {
      return Connected{.client = std::move(*client), .status = std::move(*status),
                       .address = Address(peer)};
    }
    problems += (problems.empty() ? "" : "; ") + Address(peer) + ": " + status.error().message();
  }
  return Fail(ErrorCode::kUnavailable, "no peer answered (" + problems + ")");
}

struct Signed {
  Bytes encoded;
  ledger::TransactionId id{};
};

Signed SignPublish(const std::string& chain_id, const ledger::PublishRelease& body,
                   uint64_t sequence, const Signer& signer) {
  ledger::Envelope envelope{.chain_id = chain_id,
                            .kind = ledger::TransactionKind::kPublishRelease,
                            .body = ledger::EncodeBody(body),
                            .signer = signer.public_key,
                            .sequence = sequence,
                            .signatures = {}};
  envelope.signatures.push_back(
      {.public_key = signer.public_key, .signature = signer.sign(ledger::TransactionSignBytes(envelope))});
  Bytes encoded = ledger::EncodeEnvelope(envelope);
  const ledger::TransactionId id = ledger::ComputeTransactionId(encoded);
  return Signed{.encoded = std::move(encoded), .id = id};
}

// The local stateless check: the peer would refuse the same way, after the upload.
Status CheckLocally(const Signed& transaction, const std::string& chain_id,
                    const crypto::PublicKey& signer) {
  auto checked = ledger::CheckTransactionStateless(transaction.encoded, chain_id);
  if (checked) return Ok();
  if (checked.error().code == ledger::ResultCode::kBadSignature) {
    return Fail(ErrorCode::kUnauthenticated,
                "the publish transaction's signature does not verify for key " + ShortKey(signer) +
                    " (the signing key is damaged or is not the key it claims to be); nothing "
                    "was uploaded or submitted");
  }
  return Fail(ErrorCode::kInvalidArgument, "the publish transaction is malformed, nothing was sent: " +
                                               checked.error().reason);
}

// Uploads to every store; fills `outcome.uploads`. Fails when no store holds the bundle.
Status UploadEverywhere(const PublishRequest& request, const PublishProgress& progress,
                        const Signed& transaction, PublishOutcome& outcome) {
  if (request.artifact_stores.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "no artifact store to upload to: pass --artifacts URL or --cluster DIR");
  }
  if (request.artifact_stores.size() > limits::kPublishArtifactStoresMax) {
    return Fail(ErrorCode::kInvalidArgument,
                std::to_string(request.artifact_stores.size()) + " artifact stores given, at most " +
                    std::to_string(limits::kPublishArtifactStoresMax));
  }
  artifacts::UploadOptions options;
  options.connection.ca_file = request.key_directory / std::string(pki::kNodeCaCertificateFileName);
  options.chunk_bytes = request.upload_chunk_bytes;
  std::optional<Error> refusal;  // the first definitive refusal (not a connection failure)
  std::string unreachable;
  size_t stored = 0;
  for (const artifacts::MirrorUrl& store : request.artifact_stores) {
    StoreUpload upload{.url = store.ToString(), .stored = false, .resumed_from_bytes = 0,
                       .problem = ""};
    bool first_call = true;
    auto on_chunk = [&](uint64_t done, uint64_t total) {
      if (first_call) upload.resumed_from_bytes = done;
      first_call = false;
      if (progress.on_upload) progress.on_upload(store, done, total);
    };
    Status uploaded =
        artifacts::UploadArtifact(store, request.bundle, transaction.encoded, on_chunk, options);
    // 409: the bytes are already stored there, or the release is already published; either
    // way the ledger decides when the transaction is submitted.
    if (uploaded || uploaded.error().code() == ErrorCode::kAlreadyExists) {
      upload.stored = true;
      ++stored;
    } else {
      upload.problem = uploaded.error().message();
      if (uploaded.error().code() == ErrorCode::kUnavailable ||
          uploaded.error().code() == ErrorCode::kTimeout) {
        unreachable += (unreachable.empty() ? "" : "; ") + upload.problem;
      } else if (!refusal) {
        refusal = uploaded.error();
      }
    }
    outcome.uploads.push_back(std::move(upload));
  }
  if (stored > 0) return Ok();
  if (refusal) {
    std::string hint;
    if (refusal->code() == ErrorCode::kPermissionDenied &&
        refusal->message().find("not a publisher") != std::string::npos) {
      hint = " (an admin makes key " + ShortKey(outcome.publisher) +
             " a publisher with `vigil tx submit add-publisher`)";
    }
    return std::unexpected(Error(refusal->code(), refusal->message() + hint +
                                                      "; the release was not submitted"));
  }
  return Fail(ErrorCode::kUnavailable,
              "the upload is incomplete: no artifact store holds the bundle (" + unreachable +
                  "), so the release was not submitted and the ledger records nothing; run the "
                  "same command again to resume the upload");
}

ErrorCode ErrorCodeForResult(ledger::ResultCode code) {
  switch (code) {
    case ledger::ResultCode::kAlreadyExists: return ErrorCode::kAlreadyExists;
    case ledger::ResultCode::kUnauthorized: return ErrorCode::kPermissionDenied;
    case ledger::ResultCode::kBadSignature: return ErrorCode::kUnauthenticated;
    case ledger::ResultCode::kMalformed: return ErrorCode::kInvalidArgument;
    default: return ErrorCode::kRefused;
  }
}

Error LedgerRefusal(const api::SubmitResponse& response) {
  std::string_view reason = response.result.reason;
  if (reason.starts_with(kPublishRefusedPrefix)) reason.remove_prefix(kPublishRefusedPrefix.size());
  std::string sentence = "the ledger refused the release: " + std::string(reason);
  if (response.outcome == api::SubmitOutcome::kCommitted) {
    sentence += " (recorded as a refusal at height " + std::to_string(response.height) +
                "; it changed nothing)";
  }
  return Error(ErrorCodeForResult(response.result.code), std::move(sentence));
}

// Submits, signing again with the sequence a bad-sequence refusal names.
Expected<api::SubmitResponse> SubmitWithSequence(const PublishRequest& request,
                                                 Connected& peer,
                                                 const ledger::PublishRelease& body,
                                                 const Signer& signer, Signed transaction,
                                                 PublishOutcome& outcome) {
  for (uint32_t attempt = 1;; ++attempt) {
    outcome.submissions = attempt;
    outcome.transaction_id = transaction.id;
    auto response = peer.client->Submit(transaction.encoded, /*wait_for_commit=*/true,
                                        request.commit_timeout);
    if (!response) {
      const std::string id = ToHex(transaction.id);
      return std::unexpected(response.error().WithContext(
          "submitting publish transaction " + id + " to " + peer.address +
          " (it may still commit: `vigil tx show " + id + "`)"));
    }
    if (response->outcome == api::SubmitOutcome::kCommitted && response->result.ok()) {
      // Signing is deterministic, so the same bundle, notes and sequence make the same
      // transaction, and the peer answers with its earlier commit: this run recorded nothing.
      if (response->height <= peer.status.height) {
        return Fail(ErrorCode::kAlreadyExists,
                    "the ledger refused the release: " + body.app + " " + body.version +
                        " already exists — this very bundle was published at height " +
                        std::to_string(response->height) + " (transaction " +
                        ToHex(transaction.id) + ")");
      }
      return response;
    }
    if (response->outcome == api::SubmitOutcome::kPending) {
      return Fail(ErrorCode::kTimeout, "the publish transaction " + ToHex(transaction.id) +
                                           " was admitted but not committed in time; `vigil tx "
                                           "show " + ToHex(transaction.id) + "` tells when it is");
    }
    if (response->result.code != ledger::ResultCode::kBadSequence) {
      return std::unexpected(LedgerRefusal(*response));
    }
    std::optional<uint64_t> next = ledger::NextSequenceNamedBy(response->result);
    if (!next || *next == outcome.sequence || attempt >= limits::kPublishSequenceAttemptsMax) {
      return Fail(ErrorCode::kRefused,
                  "the ledger refused every sequence tried for key " + ShortKey(signer.public_key) +
                      " (is it publishing from elsewhere at the same time?): " +
                      response->result.reason);
    }
    outcome.sequence = *next;
    transaction = SignPublish(peer.status.chain_id, body, *next, signer);
  }
}

// The committed transaction's proof, checked against the genesis validators.
Status VerifyRecorded(const PublishRequest& request, Connected& peer, PublishOutcome& outcome) {
  VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::ReadGenesisFile(*request.genesis));
  VIGIL_ASSIGN_OR_RETURN(api::TransactionResponse response,
                         peer.client->GetTransaction(outcome.transaction_id));
  if (!response.proof) {
    return Fail(ErrorCode::kCorruption, "the peer said transaction " +
                                            ToHex(outcome.transaction_id) +
                                            " is committed but has no proof of it");
  }
  const api::TransactionProof& proof = *response.proof;
  if (Status verified = api::VerifyTransactionProof(ledger::GenesisValidatorSet(genesis),
                                                    genesis.chain_id, proof);
      !verified) {
    return Fail(ErrorCode::kUnauthenticated,
                "the proof of the publish transaction does NOT verify against " +
                    request.genesis->string() + ": " + verified.error().message());
  }
  if (ledger::ComputeTransactionId(proof.transaction) != outcome.transaction_id ||
      proof.height != outcome.height || proof.result != outcome.result) {
    return Fail(ErrorCode::kCorruption,
                "the peer's proof names another transaction, height or result than its answer");
  }
  outcome.verified = true;
  outcome.block_time_ms = proof.header.time_ms;
  return Ok();
}

}  // namespace

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kVerifying: return "verifying";
    case Stage::kConnecting: return "connecting";
    case Stage::kUploading: return "uploading";
    case Stage::kSubmitting: return "submitting";
    case Stage::kDone: return "done";
  }
  return "unknown";
}

Expected<PublishRequest> RequestForCluster(const peer::Cluster& cluster,
                                           const std::filesystem::path& bundle) {
  PublishRequest request;
  request.bundle = bundle;
  request.key_directory = cluster.publisher;
  request.genesis = cluster.genesis;
  // Running peers first (a stopped one only costs a refused connection), all if none runs.
  std::vector<size_t> order;
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    if (peer::RunningPeer(cluster, i)) order.push_back(i);
  }
  if (order.empty()) {
    for (size_t i = 0; i < cluster.peers.size(); ++i) order.push_back(i);
  }
  for (size_t i : order) {
    const peer::ClusterPeer& member = cluster.peers[i];
    request.peers.push_back({.host = member.host, .port = member.port});
    if (member.artifacts_port == 0) continue;
    request.artifact_stores.push_back({.scheme = "https", .host = member.host,
                                       .port = member.artifacts_port, .path_prefix = ""});
  }
  if (request.artifact_stores.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no peer of the cluster at " +
                                                 cluster.directory.string() +
                                                 " serves an artifact store (artifacts port)");
  }
  return request;
}

Expected<PublishOutcome> PublishBundle(const PublishRequest& request,
                                       const PublishProgress& progress) {
  PublishOutcome outcome;
  // 1-2. The bundle, checked completely before anything leaves this machine.
  ReportStage(progress, Stage::kVerifying);
  auto manifest = release::VerifyBundle(request.bundle);
  if (!manifest) {
    return Fail(ErrorCode::kCorruption, "the bundle " + request.bundle.string() +
                                            " fails verification, nothing was sent: " +
                                            manifest.error().message());
  }
  VIGIL_ASSIGN_OR_RETURN(outcome.bundle_digest, crypto::Sha256OfFile(request.bundle));
  std::error_code size_error;
  outcome.bundle_size_bytes = std::filesystem::file_size(request.bundle, size_error);
  if (size_error) {
    return Fail(ErrorCode::kIOError,
                "cannot read the size of " + request.bundle.string() + ": " + size_error.message());
  }
  outcome.app = manifest->app;
  outcome.version = manifest->version;
  outcome.manifest_root = release::ManifestRoot(*manifest);
  outcome.files = manifest->files.size();

  // 3. Who signs, and the chain it signs for.
  ReportStage(progress, Stage::kConnecting);
  auto credentials = pki::LoadNodeDirectory(request.key_directory);
  if (!credentials) {
    return std::unexpected(credentials.error().WithContext(
        "the publisher's key directory " + request.key_directory.string() +
        " (key.pem, cert.pem, ca.pem)"));
  }
  Signer signer = request.signer.value_or(Signer{});
  if (!signer.sign) {
    const crypto::PrivateKey* key = &credentials->key;
    signer = Signer{.public_key = key->public_key(),
                    .sign = [key](ByteSpan message) { return key->Sign(message); }};
  }
  outcome.publisher = signer.public_key;
  VIGIL_ASSIGN_OR_RETURN(Connected peer, ConnectToAnyPeer(request.peers, *credentials));
  outcome.peer = peer.address;
  const ledger::PublishRelease body{.app = outcome.app,
                                    .version = outcome.version,
                                    .bundle_digest = outcome.bundle_digest,
                                    .bundle_size_bytes = outcome.bundle_size_bytes,
                                    .manifest_root = outcome.manifest_root,
                                    .notes = request.notes};
  outcome.sequence = request.sequence.value_or(1);
  Signed transaction = SignPublish(peer.status.chain_id, body, outcome.sequence, signer);
  VIGIL_RETURN_IF_ERROR(CheckLocally(transaction, peer.status.chain_id, signer.public_key));

  // 4. The bytes first, so the ledger never names a release no store holds.
  ReportStage(progress, Stage::kUploading);
  VIGIL_RETURN_IF_ERROR(UploadEverywhere(request, progress, transaction, outcome));

  // 5. The transaction, and what the ledger recorded.
  ReportStage(progress, Stage::kSubmitting);
  VIGIL_ASSIGN_OR_RETURN(api::SubmitResponse response,
                         SubmitWithSequence(request, peer, body, signer, std::move(transaction),
                                            outcome));
  outcome.transaction_id = response.transaction_id;
  outcome.height = response.height;
  outcome.index = response.index;
  outcome.result = response.result;
  if (request.genesis) VIGIL_RETURN_IF_ERROR(VerifyRecorded(request, peer, outcome));
  ReportStage(progress, Stage::kDone);
  return outcome;
}

}  // namespace vigil::publish
