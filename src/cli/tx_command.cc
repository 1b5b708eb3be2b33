// `vigil tx submit|show`: sign and submit one ledger transaction and report where it landed;
// fetch one committed transaction with its proof and verify that proof against the genesis
// validators before showing anything (docs/cli.md#vigil-tx).
//
// `submit` builds the body from flags, signs it (SignTransaction), runs the stateless check
// locally so a malformed field is explained before anything is sent, and submits it through
// the peer's client API. Without --sequence the signer's next sequence is read from the chain
// (the API has no account query; see FindNextSequence). With --cluster and no --key the
// cluster's own keys sign: its admins up to the threshold for governance, its publisher for
// releases.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/client.h"
#include "api/messages.h"
#include "cli/commands.h"
#include "cli/peer_target.h"
#include "cli/tx_submit.h"
#include "common/bytes.h"
#include "common/limits.h"
#include "consensus/types.h"
#include "crypto/crypto.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "pki/pki.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kSubmitName = "tx submit";
constexpr std::string_view kShowName = "tx show";
// What `vigil keygen --out DIR` writes beside key.pem.
constexpr std::string_view kPublicKeyFileName = "key.pub";
// Finding the default sequence reads every block, one request each (~50 µs to a peer on
// loopback, a round trip over a network). Past the hint (~10 s over a LAN) the command says to
// pass --sequence; past the maximum it refuses rather than read for minutes.
constexpr uint64_t kSequenceScanBlocksHint = 10'000;
constexpr uint64_t kSequenceScanBlocksMax = 100'000;

// Every flag of every kind; each kind reads the ones it declares.
struct SubmitOptions : SubmitFlags {
  // enroll-device, revoke-device
  std::string device_key;
  std::string group;
  std::vector<std::string> labels;
  std::string reason;
  // add-publisher, remove-publisher
  std::string publisher_key;
  std::string name;
  // publish-release
  std::string app;
  std::string version;
  std::string bundle_digest;
  uint64_t bundle_size_bytes = 0;
  std::string manifest_root;
  std::string notes;
  // device-report
  std::string report_kind;
  std::optional<int64_t> observed_time_ms;
  std::string snapshot_root;
  uint32_t files_changed = 0;
  uint64_t duration_ms = 0;
  std::string detail;
  // peer-report
  std::vector<uint32_t> rules_versions;
};

struct ShowOptions {
  PeerTarget target;
  std::string id;
  std::string genesis;
  bool json = false;
};

Error FlagError(std::string_view flag, std::string_view value, std::string_view problem) {
  return Error(
      ErrorCode::kInvalidArgument,
      std::string(flag) + " '" + std::string(value.substr(0, 200)) + "': " + std::string(problem));
}

// 64 hex characters, a public key file (PEM, `vigil keygen`'s key.pub), or a directory holding
// key.pub (`vigil keygen --out DIR`) or cert.pem (`vigil pki issue --out DIR`).
Expected<crypto::PublicKey> ResolvePublicKey(std::string_view flag, const std::string& text) {
  if (text.empty()) return std::unexpected(FlagError(flag, text, "is required"));
  if (auto hex = FixedFromHex<limits::kEd25519PublicKeyBytes>(text)) return *hex;
  std::filesystem::path path(text);
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    const auto certificate = path / std::string(pki::kNodeCertificateFileName);
    path /= std::string(kPublicKeyFileName);
    if (!std::filesystem::exists(path, ignored) && std::filesystem::exists(certificate, ignored)) {
      auto read = pki::ReadCertificateFile(certificate);
      if (!read) return std::unexpected(FlagError(flag, text, read.error().message()));
      auto identity = read->GetIdentity();
      if (!identity) return std::unexpected(FlagError(flag, text, identity.error().message()));
      return identity->public_key;
    }
  }
  if (!std::filesystem::exists(path, ignored)) {
    return std::unexpected(
        FlagError(flag, text,
                  "is neither 64 hex characters (a public key) nor a key.pub file nor a "
                  "directory holding key.pub or cert.pem"));
  }
  auto key = crypto::ReadPublicKeyFile(path);
  if (!key) return std::unexpected(FlagError(flag, text, key.error().message()));
  return *key;
}

Expected<crypto::Sha256Digest> ParseDigest(std::string_view flag, const std::string& text) {
  auto digest = FixedFromHex<limits::kSha256DigestBytes>(text);
  if (!digest) {
    return std::unexpected(FlagError(flag, text, "must be 64 hex characters (a SHA-256 digest)"));
  }
  return *digest;
}

// A private key file, or a node directory holding key.pem.
Expected<crypto::PrivateKey> ReadSigningKey(std::string_view flag, const std::string& text) {
  std::filesystem::path path(text);
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) path /= std::string(pki::kNodeKeyFileName);
  auto key = crypto::ReadPrivateKeyFile(path);
  if (!key) return std::unexpected(FlagError(flag, text, key.error().message()));
  return key;
}

Expected<ledger::DeviceReportKind> ParseReportKind(const std::string& text) {
  std::string known;
  for (uint8_t value = 1; value <= 7; ++value) {
    auto kind = static_cast<ledger::DeviceReportKind>(value);
    if (ledger::DeviceReportKindName(kind) == text) return kind;
    known += (known.empty() ? "" : ", ") + std::string(ledger::DeviceReportKindName(kind));
  }
  return std::unexpected(FlagError("--kind", text, "is not a report kind; one of " + known));
}

Expected<ledger::Body> BuildBody(ledger::TransactionKind kind, const SubmitOptions& options) {
  using ledger::TransactionKind;
  switch (kind) {
    case TransactionKind::kEnrollDevice: {
      VIGIL_ASSIGN_OR_RETURN(auto device, ResolvePublicKey("--device-key", options.device_key));
      std::vector<std::string> labels = options.labels;
      std::ranges::sort(labels);  // the encoding holds a set: sorted, unique
      labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
      return ledger::EnrollDevice{.device_key = device, .group = options.group, .labels = labels};
    }
    case TransactionKind::kRevokeDevice: {
      VIGIL_ASSIGN_OR_RETURN(auto device, ResolvePublicKey("--device-key", options.device_key));
      return ledger::RevokeDevice{.device_key = device, .reason = options.reason};
    }
    case TransactionKind::kAddPublisher: {
      VIGIL_ASSIGN_OR_RETURN(auto key, ResolvePublicKey("--publisher-key", options.publisher_key));
      return ledger::AddPublisher{.publisher_key = key, .name = options.name};
    }
    case TransactionKind::kRemovePublisher: {
      VIGIL_ASSIGN_OR_RETURN(auto key, ResolvePublicKey("--publisher-key", options.publisher_key));
      return ledger::RemovePublisher{.publisher_key = key, .reason = options.reason};
    }
    case TransactionKind::kPublishRelease: {
      VIGIL_ASSIGN_OR_RETURN(auto digest, ParseDigest("--bundle-digest", options.bundle_digest));
      VIGIL_ASSIGN_OR_RETURN(auto root, ParseDigest("--manifest-root", options.manifest_root));
      return ledger::PublishRelease{.app = options.app,
                                    .version = options.version,
                                    .bundle_digest = digest,
                                    .bundle_size_bytes = options.bundle_size_bytes,
                                    .manifest_root = root,
                                    .notes = options.notes};
    }
    case TransactionKind::kDeviceReport: {
      VIGIL_ASSIGN_OR_RETURN(auto report_kind, ParseReportKind(options.report_kind));
      ledger::DeviceReport report{.report_kind = report_kind,
                                  .app = options.app,
                                  .version = options.version,
                                  .observed_time_ms = 0,
                                  .snapshot_root = std::nullopt,
                                  .files_changed = options.files_changed,
                                  .duration_ms = options.duration_ms,
                                  .detail = options.detail};
      report.observed_time_ms =
          options.observed_time_ms.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      if (!options.snapshot_root.empty()) {
        VIGIL_ASSIGN_OR_RETURN(report.snapshot_root,
                               ParseDigest("--snapshot-root", options.snapshot_root));
      }
      return report;
    }
    case TransactionKind::kActivateRelease:
    case TransactionKind::kActivateRules:
      return Fail(ErrorCode::kInvalidArgument,
                  "activations are submitted with `vigil activate` and `vigil activate-rules`");
    case TransactionKind::kPeerReport: {
      std::vector<uint32_t> versions = options.rules_versions;
      std::ranges::sort(versions);  // a set: sorted, unique
      versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
      return ledger::PeerReport{.supported_rules_versions = versions};
    }
  }
  return Fail(ErrorCode::kInternal, "unknown transaction kind");
}

// The signer and co-signers: --key and --co-sign, or the cluster's own keys.
struct Signers {
  std::vector<crypto::PrivateKey> keys;  // [0] signs the envelope, the rest co-sign
};

Expected<Signers> LoadSigners(ledger::TransactionKind kind, const SubmitFlags& options) {
  Signers signers;
  if (!options.key.empty()) {
    VIGIL_ASSIGN_OR_RETURN(auto key, ReadSigningKey("--key", options.key));
    signers.keys.push_back(std::move(key));
    for (const std::string& co_signer : options.co_sign) {
      VIGIL_ASSIGN_OR_RETURN(auto co_key, ReadSigningKey("--co-sign", co_signer));
      signers.keys.push_back(std::move(co_key));
    }
    return signers;
  }
  if (!options.co_sign.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--co-sign needs --key (the envelope's signer)");
  }
  const bool governance = ledger::IsGovernanceKind(kind);
  const bool publish = kind == ledger::TransactionKind::kPublishRelease;
  if (options.target.cluster.empty() || !(governance || publish)) {
    return Fail(ErrorCode::kInvalidArgument,
                "who signs? pass --key KEYFILE (with --cluster DIR, governance kinds default to "
                "the cluster's admins and publish-release to its publisher)");
  }
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.target.cluster));
  std::vector<std::filesystem::path> directories;
  if (publish) {
    directories.push_back(cluster.publisher);
  } else {
    size_t count = std::min(cluster.admin_threshold, cluster.admins.size());
    directories.assign(cluster.admins.begin(), cluster.admins.begin() + count);
  }
  for (const auto& directory : directories) {
    VIGIL_ASSIGN_OR_RETURN(auto key, ReadSigningKey("--cluster", directory.string()));
    signers.keys.push_back(std::move(key));
  }
  return signers;
}

// The signer's next sequence: 1 + the sequence of its last transaction committed with result
// ok, found by reading every block from 1 to the tip. The API has no account query, so this is
// O(chain) requests: fine for a local or young chain; on a long one pass --sequence.
// Transactions still in a mempool are not seen (the peer then refuses with bad-sequence,
// naming the next one).
Expected<uint64_t> FindNextSequence(api::ApiClient& client, const crypto::PublicKey& signer,
                                    uint64_t tip_height) {
  if (tip_height > kSequenceScanBlocksMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "the chain has " + std::to_string(tip_height) +
                    " blocks; finding the signer's sequence would read every one of them "
                    "(more than " +
                    std::to_string(kSequenceScanBlocksMax) + "): pass --sequence N");
  }
  if (tip_height > kSequenceScanBlocksHint) {
    std::fprintf(stderr,
                 "reading %llu blocks to find the signer's sequence; pass --sequence N to skip "
                 "this on long chains\n",
                 static_cast<unsigned long long>(tip_height));
  }
  uint64_t last = 0;
  for (uint64_t height = 1; height <= tip_height; ++height) {
    VIGIL_ASSIGN_OR_RETURN(api::BlockResponse response, client.GetBlock(height));
    if (!response.block) {
      return Fail(ErrorCode::kUnavailable, "the peer has no block " + std::to_string(height) +
                                               " while finding the sequence; pass --sequence N");
    }
    VIGIL_ASSIGN_OR_RETURN(ledger::Block block, ledger::DecodeBlock(response.block->block));
    for (size_t i = 0; i < block.transactions.size() && i < response.block->results.size(); ++i) {
      if (!response.block->results[i].ok()) continue;  // refusals consume no sequence
      auto envelope = ledger::DecodeEnvelope(block.transactions[i]);
      if (envelope && envelope->signer == signer) last = std::max(last, envelope->sequence);
    }
  }
  return last + 1;
}

nlohmann::json SubmitJson(const api::SubmitResponse& response, const ledger::Envelope& envelope) {
  nlohmann::json json = {{"transaction_id", ToHex(response.transaction_id)},
                         {"kind", ledger::TransactionKindName(envelope.kind)},
                         {"signer", ToHex(envelope.signer)},
                         {"sequence", envelope.sequence},
                         {"outcome", api::SubmitOutcomeName(response.outcome)},
                         {"result", ledger::ResultCodeName(response.result.code)},
                         {"reason", response.result.reason}};
  if (response.outcome == api::SubmitOutcome::kCommitted) {
    json["height"] = response.height;
    json["index"] = response.index;
  }
  return json;
}

// Prints the answer; an error when the transaction is not (or not yet known to be) applied.
Status ReportSubmit(const api::SubmitResponse& response, const ledger::Envelope& envelope,
                    bool sequence_was_found, bool json) {
  const std::string id = ToHex(response.transaction_id);
  const std::string result = std::string(ledger::ResultCodeName(response.result.code)) +
                             (response.result.reason.empty() ? "" : ": " + response.result.reason);
  if (json) {
    PrintJson(SubmitJson(response, envelope));
  } else if (response.outcome == api::SubmitOutcome::kCommitted) {
    std::printf("committed at height %llu, index %llu: %s\ntransaction %s\n",
                static_cast<unsigned long long>(response.height),
                static_cast<unsigned long long>(response.index), result.c_str(), id.c_str());
  } else if (response.outcome == api::SubmitOutcome::kPending) {
    std::printf("admitted, pending: transaction %s\n(`vigil tx show %s` once it is committed)\n",
                id.c_str(), id.c_str());
  } else {
    std::printf("refused: transaction %s\n", id.c_str());
  }
  // The answer on stdout before the error line on stderr, also when both go to one pipe.
  std::fflush(stdout);
  switch (response.outcome) {
    case api::SubmitOutcome::kPending:
      return Ok();
    case api::SubmitOutcome::kCommitted:
      if (response.result.ok()) return Ok();
      return Fail(ErrorCode::kRefused,
                  "committed at height " + std::to_string(response.height) +
                      " but refused by the rules (it changed nothing): " + result);
    case api::SubmitOutcome::kRefused:
      break;
  }
  std::string hint;
  if (response.result.code == ledger::ResultCode::kBadSequence && sequence_was_found) {
    hint = " (sequence " + std::to_string(envelope.sequence) +
           " was counted from committed blocks; a transaction of this signer may still be "
           "pending: pass --sequence N)";
  }
  return Fail(ErrorCode::kRefused, "the peer refused it, it is in no block: " + result + hint);
}

Status RunSubmit(ledger::TransactionKind kind, const SubmitOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(ledger::Body body, BuildBody(kind, options));
  VIGIL_ASSIGN_OR_RETURN(Submitted submitted, SubmitBody(body, options));
  return ReportSubmit(submitted.response, submitted.envelope, !options.sequence, options.json);
}

}  // namespace

Expected<Submitted> SubmitBody(const ledger::Body& body, const SubmitFlags& options) {
  const ledger::TransactionKind kind = ledger::BodyKind(body);
  VIGIL_ASSIGN_OR_RETURN(Signers signers, LoadSigners(kind, options));
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  const crypto::PublicKey& signer = signers.keys.front().public_key();
  uint64_t sequence = 0;
  if (options.sequence) {
    sequence = *options.sequence;
  } else {
    VIGIL_ASSIGN_OR_RETURN(sequence, FindNextSequence(*client, signer, status.height));
  }
  std::vector<const crypto::PrivateKey*> co_signers;
  for (size_t i = 1; i < signers.keys.size(); ++i) co_signers.push_back(&signers.keys[i]);
  Bytes transaction =
      ledger::SignTransaction(status.chain_id, body, sequence, signers.keys.front(), co_signers);
  // Locally first: a field rule broken is explained here, before anything is sent.
  auto checked = ledger::CheckTransactionStateless(transaction, status.chain_id);
  if (!checked) {
    return Fail(ErrorCode::kInvalidArgument,
                "the transaction is malformed, not sent: " + checked.error().reason);
  }
  auto response = client->Submit(transaction, !options.no_wait);
  if (!response) {
    const std::string id = ToHex(ledger::ComputeTransactionId(transaction));
    return std::unexpected(response.error().WithContext(
        "submitting transaction " + id + " (it may still commit: `vigil tx show " + id + "`)"));
  }
  return Submitted{.response = std::move(*response), .envelope = std::move(checked->envelope)};
}

nlohmann::json ActivateReleaseJson(const ledger::ActivateRelease& b) {
  nlohmann::json json = {{"group", b.group}, {"app", b.app}, {"version", b.version}};
  switch (b.timing) {
    case ledger::ActivationTiming::kAtHeight:
      json["at_height"] = b.at_height;
      break;
    case ledger::ActivationTiming::kAtTime:
      json["at_time"] = ledger::FormatUtcTimeMs(b.at_time_ms);
      break;
    case ledger::ActivationTiming::kNext:
      json["at"] = "next";
      break;
  }
  json["min_installed"] =
      std::to_string(b.installed_threshold) +
      (b.threshold_kind == ledger::InstalledThresholdKind::kPercent ? "%" : " devices");
  json["on_missing"] = ledger::MissingVersionPolicyName(b.on_missing);
  return json;
}

void AddGovernanceSubmitFlags(CLI::App& command, SubmitFlags& flags) {
  AddPeerTargetOptions(command, flags.target);
  command.add_option("--key", flags.key,
                     "An admin's private key (key.pem, or a node directory holding it). With "
                     "--cluster and no --key: the cluster's admins up to the threshold");
  command.add_option("--co-sign", flags.co_sign, "A co-signing admin's key (repeatable)");
  command.add_option("--sequence", flags.sequence,
                     "The signer's sequence (default: 1 + its last committed one)");
  command.add_flag("--json", flags.json, "Print a JSON object instead of text");
}

namespace {

// --- tx show ---

// The genesis whose validators a proof is checked against: --genesis, or the cluster's.
Expected<std::filesystem::path> GenesisPath(const std::string& genesis, const PeerTarget& target) {
  if (!genesis.empty()) return std::filesystem::path(genesis);
  if (target.cluster.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "which validators to trust? pass --genesis FILE (the chain's genesis.json) or "
                "--cluster DIR");
  }
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(target.cluster));
  return cluster.genesis;
}

// Why a proof may fail: the peer's chain did not start from this genesis file.
std::string GenesisMismatchHint(api::ApiClient& client, const ledger::Genesis& genesis) {
  auto status = client.Status();
  const crypto::Sha256Digest file_hash = ledger::GenesisHash(genesis);
  if (!status || status->genesis_hash == file_hash) return "";
  return " (this is not the peer's genesis: the peer's genesis hash is " +
         ToHex(status->genesis_hash) + ", the file's " + ToHex(file_hash) + ")";
}

nlohmann::json BodyJson(const ledger::Body& body) {
  struct Visitor {
    nlohmann::json operator()(const ledger::EnrollDevice& b) const {
      return {{"device_key", ToHex(b.device_key)}, {"group", b.group}, {"labels", b.labels}};
    }
    nlohmann::json operator()(const ledger::RevokeDevice& b) const {
      return {{"device_key", ToHex(b.device_key)}, {"reason", b.reason}};
    }
    nlohmann::json operator()(const ledger::AddPublisher& b) const {
      return {{"publisher_key", ToHex(b.publisher_key)}, {"name", b.name}};
    }
    nlohmann::json operator()(const ledger::RemovePublisher& b) const {
      return {{"publisher_key", ToHex(b.publisher_key)}, {"reason", b.reason}};
    }
    nlohmann::json operator()(const ledger::PublishRelease& b) const {
      return {{"app", b.app},
              {"version", b.version},
              {"bundle_digest", ToHex(b.bundle_digest)},
              {"bundle_size_bytes", b.bundle_size_bytes},
              {"manifest_root", ToHex(b.manifest_root)},
              {"notes", b.notes}};
    }
    nlohmann::json operator()(const ledger::DeviceReport& b) const {
      return {{"report_kind", ledger::DeviceReportKindName(b.report_kind)},
              {"app", b.app},
              {"version", b.version},
              {"observed_time_ms", b.observed_time_ms},
              {"snapshot_root", b.snapshot_root ? ToHex(*b.snapshot_root) : ""},
              {"files_changed", b.files_changed},
              {"duration_ms", b.duration_ms},
              {"detail", b.detail}};
    }
    nlohmann::json operator()(const ledger::PeerReport& b) const {
      return {{"supported_rules_versions", b.supported_rules_versions}};
    }
    nlohmann::json operator()(const ledger::ActivateRelease& b) const {
      return ActivateReleaseJson(b);
    }
    nlohmann::json operator()(const ledger::ActivateRules& b) const {
      return {{"rules_version", b.version}, {"at_height", b.at_height}};
    }
  };
  return std::visit(Visitor{}, body);
}

std::string JsonFieldText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string text;
    for (const auto& item : value) text += (text.empty() ? "" : ", ") + JsonFieldText(item);
    return text.empty() ? "(none)" : text;
  }
  return value.dump();
}

void PrintShowText(const ledger::TransactionId& id, const api::TransactionProof& proof,
                   const ledger::Envelope& envelope, const nlohmann::json& body,
                   const std::string& verified) {
  std::printf("transaction %s\n", ToHex(id).c_str());
  std::printf("  %-18s %llu\n", "height", static_cast<unsigned long long>(proof.height));
  std::printf("  %-18s %llu\n", "index",
              static_cast<unsigned long long>(proof.transaction_proof.leaf_index));
  std::printf("  %-18s %s\n", "block time", ledger::FormatUtcTimeMs(proof.header.time_ms).c_str());
  std::printf("  %-18s %s\n", "kind",
              std::string(ledger::TransactionKindName(envelope.kind)).c_str());
  std::printf("  %-18s %s\n", "signer", ToHex(envelope.signer).c_str());
  for (size_t i = 1; i < envelope.signatures.size(); ++i) {
    std::printf("  %-18s %s\n", "co-signer", ToHex(envelope.signatures[i].public_key).c_str());
  }
  std::printf("  %-18s %llu\n", "sequence", static_cast<unsigned long long>(envelope.sequence));
  for (const auto& [field, value] : body.items()) {
    std::printf("  %-18s %s\n", field.c_str(), JsonFieldText(value).c_str());
  }
  std::string result(ledger::ResultCodeName(proof.result.code));
  if (!proof.result.reason.empty()) result += ": " + proof.result.reason;
  std::printf("  %-18s %s\n", "result", result.c_str());
  std::printf("%s\n", verified.c_str());
}

Status RunShow(const ShowOptions& options) {
  auto id = FixedFromHex<limits::kSha256DigestBytes>(options.id);
  if (!id) {
    return std::unexpected(
        FlagError("ID", options.id, "must be 64 hex characters (a transaction id)"));
  }
  VIGIL_ASSIGN_OR_RETURN(auto genesis_path, GenesisPath(options.genesis, options.target));
  VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::ReadGenesisFile(genesis_path));
  const consensus::ValidatorSet validators = ledger::GenesisValidatorSet(genesis);
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::TransactionResponse response, client->GetTransaction(*id));
  if (!response.proof) {
    if (!response.pending) {
      return Fail(ErrorCode::kNotFound,
                  "transaction " + options.id + " is neither committed nor pending at this peer");
    }
    if (options.json) {
      PrintJson({{"transaction_id", ToHex(*id)}, {"status", "pending"}});
    } else {
      std::printf("transaction %s is pending: admitted to the peer's mempool, not committed yet\n",
                  ToHex(*id).c_str());
    }
    return Ok();
  }
  const api::TransactionProof& proof = *response.proof;
  // Trust nobody who relayed the proof: nothing is shown unless it verifies.
  if (Status verified = api::VerifyTransactionProof(validators, genesis.chain_id, proof);
      !verified) {
    return Fail(ErrorCode::kUnauthenticated,
                "transaction " + options.id + ": the proof does NOT verify against the " +
                    std::to_string(validators.size()) + " validators of " + genesis_path.string() +
                    ": " + verified.error().message() + GenesisMismatchHint(*client, genesis));
  }
  if (ledger::ComputeTransactionId(proof.transaction) != *id) {
    return Fail(ErrorCode::kUnauthenticated,
                "the peer answered with another transaction than " + options.id);
  }
  VIGIL_ASSIGN_OR_RETURN(ledger::Envelope envelope, ledger::DecodeEnvelope(proof.transaction));
  VIGIL_ASSIGN_OR_RETURN(ledger::Body body, ledger::DecodeBody(envelope.kind, envelope.body));
  const std::string verified = "verified: " + std::to_string(proof.certificate.signatures.size()) +
                               " of " + std::to_string(validators.size()) +
                               " validators signed block " + std::to_string(proof.height) +
                               " (2f+1 needed), checked against " + genesis_path.string();
  nlohmann::json body_json = BodyJson(body);
  if (!options.json) {
    PrintShowText(*id, proof, envelope, body_json, verified);
    return Ok();
  }
  nlohmann::json co_signers = nlohmann::json::array();
  for (size_t i = 1; i < envelope.signatures.size(); ++i) {
    co_signers.push_back(ToHex(envelope.signatures[i].public_key));
  }
  PrintJson({{"transaction_id", ToHex(*id)},
             {"status", "committed"},
             {"height", proof.height},
             {"index", proof.transaction_proof.leaf_index},
             {"block_time_ms", proof.header.time_ms},
             {"kind", ledger::TransactionKindName(envelope.kind)},
             {"signer", ToHex(envelope.signer)},
             {"co_signers", co_signers},
             {"sequence", envelope.sequence},
             {"body", body_json},
             {"result", ledger::ResultCodeName(proof.result.code)},
             {"reason", proof.result.reason},
             {"verified", true},
             {"signatures", proof.certificate.signatures.size()},
             {"validators", validators.size()}});
  return Ok();
}

// --- Registration ---

CLI::App* AddKind(CLI::App* submit, ledger::TransactionKind kind, std::string_view name,
                  std::string_view description, std::shared_ptr<SubmitOptions> options,
                  CommandContext& context) {
  CLI::App* command = submit->add_subcommand(std::string(name), std::string(description));
  // The shared flags (--key, --cluster, --json, ...) may come after the kind.
  command->fallthrough();
  command->footer(
      "Shared flags (see `vigil tx submit --help`): --key, --co-sign, --sequence, --no-wait, "
      "--json, --cluster, --peer, --as");
  command->callback([kind, options, &context] {
    if (Status status = RunSubmit(kind, *options); !status) {
      ReportError(context, kSubmitName, status.error());
    }
  });
  return command;
}

void AddKinds(CLI::App* submit, const std::shared_ptr<SubmitOptions>& o, CommandContext& context) {
  using ledger::TransactionKind;
  CLI::App* enroll = AddKind(submit, TransactionKind::kEnrollDevice, "enroll-device",
                             "Enroll a device (admins, k of n)", o, context);
  enroll->add_option("--device-key", o->device_key, "Device public key: HEX, key.pub or DIR")
      ->required();
  enroll->add_option("--group", o->group, "Device group ([a-z0-9._-])")->required();
  enroll->add_option("--label", o->labels, "A label, key=value (repeatable)");

  CLI::App* revoke = AddKind(submit, TransactionKind::kRevokeDevice, "revoke-device",
                             "Revoke an enrolled device (admins, k of n)", o, context);
  revoke->add_option("--device-key", o->device_key, "Device public key: HEX, key.pub or DIR")
      ->required();
  revoke->add_option("--reason", o->reason, "Why, for the record")->required();

  CLI::App* add = AddKind(submit, TransactionKind::kAddPublisher, "add-publisher",
                          "Authorize a release publisher (admins, k of n)", o, context);
  add->add_option("--publisher-key", o->publisher_key, "Publisher public key: HEX, key.pub or DIR")
      ->required();
  add->add_option("--name", o->name, "Publisher name ([A-Za-z0-9._-])")->required();

  CLI::App* remove = AddKind(submit, TransactionKind::kRemovePublisher, "remove-publisher",
                             "Withdraw a publisher (admins, k of n)", o, context);
  remove
      ->add_option("--publisher-key", o->publisher_key, "Publisher public key: HEX, key.pub or DIR")
      ->required();
  remove->add_option("--reason", o->reason, "Why, for the record")->required();

  CLI::App* publish = AddKind(submit, TransactionKind::kPublishRelease, "publish-release",
                              "Record a release (a publisher). The raw transaction: the bundle "
                              "itself is not uploaded by this command",
                              o, context);
  publish->add_option("--app", o->app, "App name ([a-z0-9._-])")->required();
  publish->add_option("--version", o->version, "SemVer 2.0.0 version")->required();
  publish->add_option("--bundle-digest", o->bundle_digest, "SHA-256 of the bundle (64 hex)")
      ->required();
  publish->add_option("--bundle-size", o->bundle_size_bytes, "Bundle size in bytes")->required();
  publish->add_option("--manifest-root", o->manifest_root, "Merkle root of the manifest (64 hex)")
      ->required();
  publish->add_option("--notes", o->notes, "Release notes");

  CLI::App* report = AddKind(submit, TransactionKind::kDeviceReport, "device-report",
                             "A device's report (signed by the device's key)", o, context);
  report
      ->add_option("--kind", o->report_kind,
                   "installed, activated, rolled-back, integrity-snapshot, tamper-detected, "
                   "repaired or app-restarted")
      ->required();
  report->add_option("--app", o->app, "App name")->required();
  report->add_option("--version", o->version, "Release version (installed, activated, ...)");
  report->add_option("--observed-time-ms", o->observed_time_ms,
                     "The device's clock, ms since the epoch (default: now)");
  report->add_option("--snapshot-root", o->snapshot_root,
                     "Merkle root of what is on disk (64 hex)");
  report->add_option("--files-changed", o->files_changed, "Files found changed or repaired");
  report->add_option("--duration-ms", o->duration_ms, "Install or repair duration");
  report->add_option("--detail", o->detail, "Free text");

  CLI::App* peer_report = AddKind(submit, TransactionKind::kPeerReport, "peer-report",
                                  "The rules versions a validator supports (its key)", o, context);
  peer_report->add_option("--rules-version", o->rules_versions, "A supported version (repeatable)")
      ->required();
}

}  // namespace

void RegisterTxCommand(CLI::App& app, CommandContext& context) {
  CLI::App* tx = app.add_subcommand("tx",
                                    "Submit a signed ledger transaction, or show one with "
                                    "its proof verified");
  tx->require_subcommand(1);

  auto submit_options = std::make_shared<SubmitOptions>();
  CLI::App* submit = tx->add_subcommand(
      "submit",
      "Sign and submit one transaction: `vigil tx submit KIND [fields] --key KEYFILE`; "
      "`vigil tx submit KIND --help` lists a kind's fields. Exit status 0 only when it is "
      "committed with result ok (or admitted, with --no-wait).");
  // Not require_subcommand: CLI11 would then answer an unknown kind with "A subcommand is
  // required"; without it, it names the unexpected argument, and a missing kind is caught below.
  AddPeerTargetOptions(*submit, submit_options->target);
  submit->add_option("--key", submit_options->key,
                     "The signer's private key (key.pem, or a node directory holding it). With "
                     "--cluster and no --key: the cluster's admins (governance) or publisher");
  submit->add_option("--co-sign", submit_options->co_sign,
                     "A co-signing admin's key (governance; repeatable)");
  submit->add_option("--sequence", submit_options->sequence,
                     "The signer's sequence (default: 1 + its last committed one, found by "
                     "reading every block: pass it on long chains)");
  submit->add_flag("--no-wait", submit_options->no_wait,
                   "Return once admitted to the mempool, not once committed");
  submit->add_flag("--json", submit_options->json, "Print a JSON object instead of text");
  AddKinds(submit, submit_options, context);
  // Runs after a kind's own callback; alone, it means no kind was named.
  submit->callback([submit, &context] {
    if (!submit->get_subcommands().empty()) return;
    std::string kinds;
    for (const CLI::App* kind : submit->get_subcommands({})) {
      kinds += (kinds.empty() ? "" : ", ") + kind->get_name();
    }
    ReportError(context, kSubmitName,
                Error(ErrorCode::kInvalidArgument, "which kind of transaction? one of " + kinds));
  });

  auto show_options = std::make_shared<ShowOptions>();
  CLI::App* show = tx->add_subcommand(
      "show",
      "Show a committed transaction after verifying its proof (inclusion, result, and "
      "the block's commit certificate) against the genesis validators");
  show->add_option("ID", show_options->id, "Transaction id (64 hex)")->required();
  AddPeerTargetOptions(*show, show_options->target);
  show->add_option("--genesis", show_options->genesis,
                   "The chain's genesis.json, whose validators are trusted (default: the "
                   "cluster's)");
  show->add_flag("--json", show_options->json, "Print a JSON object instead of text");
  show->callback([show_options, &context] {
    if (Status status = RunShow(*show_options); !status) {
      ReportError(context, kShowName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderTx, RegisterTxCommand);

}  // namespace vigil::cli
