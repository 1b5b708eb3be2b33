#include "ledger/transaction.h"

#include <algorithm>

#include "common/limits.h"
#include "ledger/semver.h"

namespace vigil::ledger {
namespace {

// Domain-separation prefix of transaction signatures (docs/encoding.md). DO NOT CHANGE.
constexpr std::string_view kTransactionDomain = "vigil/transaction/v1";

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

bool IsLowerAlphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlphanumeric(char c) { return IsLowerAlphanumeric(c) || (c >= 'A' && c <= 'Z'); }
bool IsLabelChar(char c) {
  return IsAlphanumeric(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '=' || c == '-';
}

Status ValidateLabel(std::string_view label) {
  if (label.empty() || label.size() > limits::kLedgerLabelBytesMax ||
      !std::all_of(label.begin(), label.end(), IsLabelChar)) {
    return Invalid("label \"" + std::string(label.substr(0, limits::kLedgerLabelBytesMax)) +
                   "\" must be 1 to " + std::to_string(limits::kLedgerLabelBytesMax) +
                   " characters of [A-Za-z0-9._:/=-]");
  }
  return Ok();
}

// Sets travel as sorted vectors without duplicates (docs/encoding.md).
template <typename T>
Status CheckSortedSet(std::string_view field, const std::vector<T>& elements) {
  for (size_t i = 1; i < elements.size(); ++i) {
    if (!(elements[i - 1] < elements[i])) {
      return Invalid(std::string(field) +
                     " must be sorted in ascending order without duplicates (element " +
                     std::to_string(i) + ")");
    }
  }
  return Ok();
}

Status ValidateVersion(std::string_view field, std::string_view version) {
  auto parsed = SemanticVersion::Parse(version);
  if (!parsed) return std::unexpected(parsed.error().WithContext(field));
  return Ok();
}

Expected<PublicKey> ReadKey(codec::Decoder& decoder, std::string_view field) {
  return decoder.ReadFixed<limits::kEd25519PublicKeyBytes>(field);
}
Expected<Sha256Digest> ReadDigest(codec::Decoder& decoder, std::string_view field) {
  return decoder.ReadFixed<limits::kSha256DigestBytes>(field);
}
Expected<std::string> ReadName(codec::Decoder& decoder, std::string_view field) {
  return decoder.ReadString(field, limits::kLedgerNameBytesMax);
}

// --- Body encoders ---

struct BodyEncoder {
  codec::Encoder& encoder;
  void operator()(const EnrollDevice& body) const {
    encoder.WriteFixed(body.device_key);
    encoder.WriteString(body.group);
    encoder.WriteVector(body.labels,
                        [](codec::Encoder& e, const std::string& label) { e.WriteString(label); });
  }
  void operator()(const RevokeDevice& body) const {
    encoder.WriteFixed(body.device_key);
    encoder.WriteString(body.reason);
  }
  void operator()(const AddPublisher& body) const {
    encoder.WriteFixed(body.publisher_key);
    encoder.WriteString(body.name);
  }
  void operator()(const RemovePublisher& body) const {
    encoder.WriteFixed(body.publisher_key);
    encoder.WriteString(body.reason);
  }
  void operator()(const PublishRelease& body) const {
    encoder.WriteString(body.app);
    encoder.WriteString(body.version);
    encoder.WriteFixed(body.bundle_digest);
    encoder.WriteU64(body.bundle_size_bytes);
    encoder.WriteFixed(body.manifest_root);
    encoder.WriteString(body.notes);
  }
  void operator()(const DeviceReport& body) const {
    encoder.WriteU8(static_cast<uint8_t>(body.report_kind));
    encoder.WriteString(body.app);
    encoder.WriteString(body.version);
    encoder.WriteI64(body.observed_time_ms);
    encoder.WriteOptional(body.snapshot_root,
                          [](codec::Encoder& e, const Sha256Digest& root) { e.WriteFixed(root); });
    encoder.WriteU32(body.files_changed);
    encoder.WriteU64(body.duration_ms);
    encoder.WriteString(body.detail);
  }
  void operator()(const PeerReport& body) const {
    encoder.WriteVector(body.supported_rules_versions,
                        [](codec::Encoder& e, uint32_t version) { e.WriteU32(version); });
  }
  void operator()(const ActivateRelease& body) const {
    encoder.WriteString(body.group);
    encoder.WriteString(body.app);
    encoder.WriteString(body.version);
    encoder.WriteU8(static_cast<uint8_t>(body.timing));
    encoder.WriteU64(body.at_height);
    encoder.WriteI64(body.at_time_ms);
    encoder.WriteU8(static_cast<uint8_t>(body.threshold_kind));
    encoder.WriteU32(body.installed_threshold);
    encoder.WriteU8(static_cast<uint8_t>(body.on_missing));
  }
  void operator()(const ActivateRules& body) const {
    encoder.WriteU32(body.version);
    encoder.WriteU64(body.at_height);
  }
};

// --- Body decoders: strict decoding, then the field rules ---

Expected<EnrollDevice> DecodeEnrollDevice(codec::Decoder& decoder) {
  EnrollDevice body;
  VIGIL_ASSIGN_OR_RETURN(body.device_key, ReadKey(decoder, "device_key"));
  VIGIL_ASSIGN_OR_RETURN(body.group, ReadName(decoder, "group"));
  VIGIL_ASSIGN_OR_RETURN(
      body.labels, decoder.ReadVector("labels", limits::kLedgerLabelsMax, [](codec::Decoder& d) {
        return d.ReadString("label", limits::kLedgerLabelBytesMax);
      }));
  VIGIL_RETURN_IF_ERROR(ValidateAppName("group", body.group));
  for (const std::string& label : body.labels) VIGIL_RETURN_IF_ERROR(ValidateLabel(label));
  VIGIL_RETURN_IF_ERROR(CheckSortedSet("labels", body.labels));
  return body;
}

Expected<RevokeDevice> DecodeRevokeDevice(codec::Decoder& decoder) {
  RevokeDevice body;
  VIGIL_ASSIGN_OR_RETURN(body.device_key, ReadKey(decoder, "device_key"));
  VIGIL_ASSIGN_OR_RETURN(body.reason, decoder.ReadString("reason", limits::kLedgerDetailBytesMax));
  return body;
}

Expected<AddPublisher> DecodeAddPublisher(codec::Decoder& decoder) {
  AddPublisher body;
  VIGIL_ASSIGN_OR_RETURN(body.publisher_key, ReadKey(decoder, "publisher_key"));
  VIGIL_ASSIGN_OR_RETURN(body.name, ReadName(decoder, "name"));
  VIGIL_RETURN_IF_ERROR(ValidateDisplayName("name", body.name));
  return body;
}

Expected<RemovePublisher> DecodeRemovePublisher(codec::Decoder& decoder) {
  RemovePublisher body;
  VIGIL_ASSIGN_OR_RETURN(body.publisher_key, ReadKey(decoder, "publisher_key"));
  VIGIL_ASSIGN_OR_RETURN(body.reason, decoder.ReadString("reason", limits::kLedgerDetailBytesMax));
  return body;
}

Expected<PublishRelease> DecodePublishRelease(codec::Decoder& decoder) {
  PublishRelease body;
  VIGIL_ASSIGN_OR_RETURN(body.app, ReadName(decoder, "app"));
  VIGIL_ASSIGN_OR_RETURN(body.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(body.bundle_digest, ReadDigest(decoder, "bundle_digest"));
  VIGIL_ASSIGN_OR_RETURN(body.bundle_size_bytes, decoder.ReadU64("bundle_size_bytes"));
  VIGIL_ASSIGN_OR_RETURN(body.manifest_root, ReadDigest(decoder, "manifest_root"));
  VIGIL_ASSIGN_OR_RETURN(body.notes, decoder.ReadString("notes", limits::kLedgerNotesBytesMax));
  VIGIL_RETURN_IF_ERROR(ValidateAppName("app", body.app));
  VIGIL_RETURN_IF_ERROR(ValidateVersion("version", body.version));
  if (body.bundle_size_bytes == 0) return Invalid("bundle_size_bytes must not be zero");
  return body;
}

Status ValidateDeviceReport(const DeviceReport& body) {
  VIGIL_RETURN_IF_ERROR(ValidateAppName("app", body.app));
  switch (body.report_kind) {
    case DeviceReportKind::kInstalled:
    case DeviceReportKind::kActivated:
    case DeviceReportKind::kRolledBack:
      return ValidateVersion("version", body.version);
    case DeviceReportKind::kAppRestarted:
      return body.version.empty() ? Ok() : ValidateVersion("version", body.version);
    case DeviceReportKind::kIntegritySnapshot:
    case DeviceReportKind::kTamperDetected:
    case DeviceReportKind::kRepaired:
      if (!body.snapshot_root.has_value()) {
        return Invalid(std::string(DeviceReportKindName(body.report_kind)) +
                       " report needs a snapshot_root");
      }
      return body.version.empty() ? Ok() : ValidateVersion("version", body.version);
  }
  return Invalid("unknown report kind");
}

Expected<DeviceReport> DecodeDeviceReport(codec::Decoder& decoder) {
  DeviceReport body;
  VIGIL_ASSIGN_OR_RETURN(uint8_t report_kind, decoder.ReadU8("report_kind"));
  if (report_kind < 1 || report_kind > 7) {
    return Fail(ErrorCode::kCorruption, "unknown report_kind " + std::to_string(report_kind));
  }
  body.report_kind = static_cast<DeviceReportKind>(report_kind);
  VIGIL_ASSIGN_OR_RETURN(body.app, ReadName(decoder, "app"));
  VIGIL_ASSIGN_OR_RETURN(body.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(body.observed_time_ms, decoder.ReadI64("observed_time_ms"));
  VIGIL_ASSIGN_OR_RETURN(body.snapshot_root,
                         decoder.ReadOptional("snapshot_root", [](codec::Decoder& d) {
                           return ReadDigest(d, "snapshot_root");
                         }));
  VIGIL_ASSIGN_OR_RETURN(body.files_changed, decoder.ReadU32("files_changed"));
  VIGIL_ASSIGN_OR_RETURN(body.duration_ms, decoder.ReadU64("duration_ms"));
  VIGIL_ASSIGN_OR_RETURN(body.detail, decoder.ReadString("detail", limits::kLedgerDetailBytesMax));
  VIGIL_RETURN_IF_ERROR(ValidateDeviceReport(body));
  return body;
}

Expected<PeerReport> DecodePeerReport(codec::Decoder& decoder) {
  PeerReport body;
  VIGIL_ASSIGN_OR_RETURN(
      body.supported_rules_versions,
      decoder.ReadVector("supported_rules_versions", limits::kLedgerRulesVersionsMax,
                         [](codec::Decoder& d) { return d.ReadU32("version"); }));
  if (body.supported_rules_versions.empty()) {
    return Invalid("supported_rules_versions must name at least one version");
  }
  if (body.supported_rules_versions.front() == 0) return Invalid("rules version 0 does not exist");
  VIGIL_RETURN_IF_ERROR(CheckSortedSet("supported_rules_versions", body.supported_rules_versions));
  return body;
}

Status ValidateActivateRelease(const ActivateRelease& body) {
  VIGIL_RETURN_IF_ERROR(ValidateAppName("group", body.group));
  VIGIL_RETURN_IF_ERROR(ValidateAppName("app", body.app));
  VIGIL_RETURN_IF_ERROR(ValidateVersion("version", body.version));
  switch (body.timing) {
    case ActivationTiming::kAtHeight:
      if (body.at_height == 0 || body.at_time_ms != 0) {
        return Invalid("an activation at a height needs at_height > 0 and at_time_ms 0");
      }
      break;
    case ActivationTiming::kAtTime:
      if (body.at_time_ms <= 0 || body.at_height != 0) {
        return Invalid("an activation at a time needs at_time_ms > 0 and at_height 0");
      }
      break;
    case ActivationTiming::kNext:
      if (body.at_height != 0 || body.at_time_ms != 0) {
        return Invalid("an activation at the next block needs at_height 0 and at_time_ms 0");
      }
      break;
  }
  if (body.threshold_kind == InstalledThresholdKind::kPercent && body.installed_threshold > 100) {
    return Invalid("installed_threshold " + std::to_string(body.installed_threshold) +
                   " is not a percentage (0 to 100)");
  }
  return Ok();
}

// Reads a u8 enumeration whose values are 1..`last`.
template <typename Enum>
Expected<Enum> ReadEnum(codec::Decoder& decoder, std::string_view field, uint8_t last) {
  VIGIL_ASSIGN_OR_RETURN(uint8_t value, decoder.ReadU8(field));
  if (value < 1 || value > last) {
    return Fail(ErrorCode::kCorruption,
                "unknown " + std::string(field) + " " + std::to_string(value));
  }
  return static_cast<Enum>(value);
}

Expected<ActivateRelease> DecodeActivateRelease(codec::Decoder& decoder) {
  ActivateRelease body;
  VIGIL_ASSIGN_OR_RETURN(body.group, ReadName(decoder, "group"));
  VIGIL_ASSIGN_OR_RETURN(body.app, ReadName(decoder, "app"));
  VIGIL_ASSIGN_OR_RETURN(body.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(body.timing, ReadEnum<ActivationTiming>(decoder, "timing", 3));
  VIGIL_ASSIGN_OR_RETURN(body.at_height, decoder.ReadU64("at_height"));
  VIGIL_ASSIGN_OR_RETURN(body.at_time_ms, decoder.ReadI64("at_time_ms"));
  VIGIL_ASSIGN_OR_RETURN(body.threshold_kind,
                         ReadEnum<InstalledThresholdKind>(decoder, "threshold_kind", 2));
  VIGIL_ASSIGN_OR_RETURN(body.installed_threshold, decoder.ReadU32("installed_threshold"));
  VIGIL_ASSIGN_OR_RETURN(body.on_missing, ReadEnum<MissingVersionPolicy>(decoder, "on_missing", 2));
  VIGIL_RETURN_IF_ERROR(ValidateActivateRelease(body));
  return body;
}

Expected<ActivateRules> DecodeActivateRules(codec::Decoder& decoder) {
  ActivateRules body;
  VIGIL_ASSIGN_OR_RETURN(body.version, decoder.ReadU32("version"));
  VIGIL_ASSIGN_OR_RETURN(body.at_height, decoder.ReadU64("at_height"));
  if (body.version == 0) return Invalid("rules version 0 does not exist");
  if (body.at_height == 0) return Invalid("at_height must be at least 1");
  return body;
}

template <typename T>
Expected<Body> DecodeAs(ByteSpan bytes, Expected<T> (*decode)(codec::Decoder&)) {
  VIGIL_ASSIGN_OR_RETURN(T body, codec::DecodeExactly(bytes, decode));
  return Body(std::move(body));
}

void EncodeEnvelopeWithoutSignatures(codec::Encoder& encoder, const Envelope& envelope) {
  encoder.WriteString(envelope.chain_id);
  encoder.WriteU16(static_cast<uint16_t>(envelope.kind));
  encoder.WriteBytes(envelope.body);
  encoder.WriteFixed(envelope.signer);
  encoder.WriteU64(envelope.sequence);
}

bool IsKnownKind(uint16_t kind) {
  switch (static_cast<TransactionKind>(kind)) {
    case TransactionKind::kEnrollDevice:
    case TransactionKind::kRevokeDevice:
    case TransactionKind::kAddPublisher:
    case TransactionKind::kRemovePublisher:
    case TransactionKind::kPublishRelease:
    case TransactionKind::kDeviceReport:
    case TransactionKind::kPeerReport:
    case TransactionKind::kActivateRelease:
    case TransactionKind::kActivateRules:
      return true;
  }
  return false;
}

Expected<Envelope> DecodeEnvelopeFrom(codec::Decoder& decoder) {
  Envelope envelope;
  VIGIL_ASSIGN_OR_RETURN(envelope.chain_id,
                         decoder.ReadString("chain_id", limits::kConsensusChainIdBytesMax));
  VIGIL_ASSIGN_OR_RETURN(uint16_t kind, decoder.ReadU16("kind"));
  if (!IsKnownKind(kind)) {
    return Fail(ErrorCode::kCorruption, "unknown transaction kind " + std::to_string(kind));
  }
  envelope.kind = static_cast<TransactionKind>(kind);
  VIGIL_ASSIGN_OR_RETURN(envelope.body, decoder.ReadBytes("body", limits::kLedgerBodyBytesMax));
  VIGIL_ASSIGN_OR_RETURN(envelope.signer, ReadKey(decoder, "signer"));
  VIGIL_ASSIGN_OR_RETURN(envelope.sequence, decoder.ReadU64("sequence"));
  VIGIL_ASSIGN_OR_RETURN(
      envelope.signatures,
      decoder.ReadVector("signatures", limits::kLedgerSignaturesMax,
                         [](codec::Decoder& d) -> Expected<SignatureEntry> {
                           SignatureEntry entry;
                           VIGIL_ASSIGN_OR_RETURN(entry.public_key, ReadKey(d, "public_key"));
                           VIGIL_ASSIGN_OR_RETURN(
                               entry.signature,
                               d.ReadFixed<limits::kEd25519SignatureBytes>("signature"));
                           return entry;
                         }));
  if (envelope.signatures.empty() || envelope.signatures[0].public_key != envelope.signer) {
    return Fail(ErrorCode::kCorruption, "the first signature must be the signer's");
  }
  for (size_t i = 1; i < envelope.signatures.size(); ++i) {
    const PublicKey& key = envelope.signatures[i].public_key;
    if (key == envelope.signer) {
      return Fail(ErrorCode::kCorruption,
                  "co-signature " + std::to_string(i) + " repeats the signer " + ToHex(key));
    }
    if (i > 1 && !(envelope.signatures[i - 1].public_key < key)) {
      return Fail(ErrorCode::kCorruption,
                  "co-signatures must be sorted by key without duplicates; " + ToHex(key) +
                      " is out of order or signs twice");
    }
  }
  return envelope;
}

}  // namespace

std::string_view TransactionKindName(TransactionKind kind) {
  switch (kind) {
    case TransactionKind::kEnrollDevice:
      return "enroll-device";
    case TransactionKind::kRevokeDevice:
      return "revoke-device";
    case TransactionKind::kAddPublisher:
      return "add-publisher";
    case TransactionKind::kRemovePublisher:
      return "remove-publisher";
    case TransactionKind::kPublishRelease:
      return "publish";
    case TransactionKind::kDeviceReport:
      return "device-report";
    case TransactionKind::kPeerReport:
      return "peer-report";
    case TransactionKind::kActivateRelease:
      return "activate";
    case TransactionKind::kActivateRules:
      return "activate-rules";
  }
  return "unknown";
}

bool IsGovernanceKind(TransactionKind kind) {
  uint16_t value = static_cast<uint16_t>(kind);
  return value >= 1 && value <= 9;
}

std::string_view MissingVersionPolicyName(MissingVersionPolicy policy) {
  switch (policy) {
    case MissingVersionPolicy::kHalt:
      return "halt";
    case MissingVersionPolicy::kKeep:
      return "keep";
  }
  return "unknown";
}

std::string_view DeviceReportKindName(DeviceReportKind kind) {
  switch (kind) {
    case DeviceReportKind::kInstalled:
      return "installed";
    case DeviceReportKind::kActivated:
      return "activated";
    case DeviceReportKind::kRolledBack:
      return "rolled-back";
    case DeviceReportKind::kIntegritySnapshot:
      return "integrity-snapshot";
    case DeviceReportKind::kTamperDetected:
      return "tamper-detected";
    case DeviceReportKind::kRepaired:
      return "repaired";
    case DeviceReportKind::kAppRestarted:
      return "app-restarted";
  }
  return "unknown";
}

std::string_view ResultCodeName(ResultCode code) {
  switch (code) {
    case ResultCode::kOk:
      return "ok";
    case ResultCode::kMalformed:
      return "malformed";
    case ResultCode::kWrongChain:
      return "wrong-chain";
    case ResultCode::kBadSignature:
      return "bad-signature";
    case ResultCode::kBadSequence:
      return "bad-sequence";
    case ResultCode::kUnauthorized:
      return "unauthorized";
    case ResultCode::kBelowThreshold:
      return "below-threshold";
    case ResultCode::kAlreadyExists:
      return "already-exists";
    case ResultCode::kNotFound:
      return "not-found";
    case ResultCode::kNotNewer:
      return "not-newer";
    case ResultCode::kRevoked:
      return "revoked";
    case ResultCode::kLimitReached:
      return "limit-reached";
    case ResultCode::kUnsupported:
      return "unsupported";
    case ResultCode::kNotInFuture:
      return "not-in-future";
    case ResultCode::kInsufficient:
      return "insufficient";
    case ResultCode::kConflict:
      return "conflict";
  }
  return "unknown";
}

Status ValidateAppName(std::string_view field, std::string_view name) {
  bool valid = !name.empty() && name.size() <= limits::kLedgerNameBytesMax &&
               IsLowerAlphanumeric(name[0]) && std::all_of(name.begin(), name.end(), [](char c) {
                 return IsLowerAlphanumeric(c) || c == '.' || c == '_' || c == '-';
               });
  if (!valid) {
    return Invalid(std::string(field) + " \"" +
                   std::string(name.substr(0, limits::kLedgerNameBytesMax)) + "\" must be 1 to " +
                   std::to_string(limits::kLedgerNameBytesMax) +
                   " characters of [a-z0-9._-], starting with a letter or digit");
  }
  return Ok();
}

Status ValidateDisplayName(std::string_view field, std::string_view name) {
  bool valid = !name.empty() && name.size() <= limits::kLedgerNameBytesMax &&
               IsAlphanumeric(name[0]) && std::all_of(name.begin(), name.end(), [](char c) {
                 return IsAlphanumeric(c) || c == '.' || c == '_' || c == '-';
               });
  if (!valid) {
    return Invalid(std::string(field) + " \"" +
                   std::string(name.substr(0, limits::kLedgerNameBytesMax)) + "\" must be 1 to " +
                   std::to_string(limits::kLedgerNameBytesMax) +
                   " characters of [A-Za-z0-9._-], starting with a letter or digit");
  }
  return Ok();
}

TransactionKind BodyKind(const Body& body) {
  struct Visitor {
    TransactionKind operator()(const EnrollDevice&) const { return TransactionKind::kEnrollDevice; }
    TransactionKind operator()(const RevokeDevice&) const { return TransactionKind::kRevokeDevice; }
    TransactionKind operator()(const AddPublisher&) const { return TransactionKind::kAddPublisher; }
    TransactionKind operator()(const RemovePublisher&) const {
      return TransactionKind::kRemovePublisher;
    }
    TransactionKind operator()(const PublishRelease&) const {
      return TransactionKind::kPublishRelease;
    }
    TransactionKind operator()(const DeviceReport&) const { return TransactionKind::kDeviceReport; }
    TransactionKind operator()(const PeerReport&) const { return TransactionKind::kPeerReport; }
    TransactionKind operator()(const ActivateRelease&) const {
      return TransactionKind::kActivateRelease;
    }
    TransactionKind operator()(const ActivateRules&) const {
      return TransactionKind::kActivateRules;
    }
  };
  return std::visit(Visitor{}, body);
}

Bytes EncodeBody(const Body& body) {
  codec::Encoder encoder;
  std::visit(BodyEncoder{encoder}, body);
  return std::move(encoder).Take();
}

Expected<Body> DecodeBody(TransactionKind kind, ByteSpan bytes) {
  switch (kind) {
    case TransactionKind::kEnrollDevice:
      return DecodeAs(bytes, DecodeEnrollDevice);
    case TransactionKind::kRevokeDevice:
      return DecodeAs(bytes, DecodeRevokeDevice);
    case TransactionKind::kAddPublisher:
      return DecodeAs(bytes, DecodeAddPublisher);
    case TransactionKind::kRemovePublisher:
      return DecodeAs(bytes, DecodeRemovePublisher);
    case TransactionKind::kPublishRelease:
      return DecodeAs(bytes, DecodePublishRelease);
    case TransactionKind::kDeviceReport:
      return DecodeAs(bytes, DecodeDeviceReport);
    case TransactionKind::kPeerReport:
      return DecodeAs(bytes, DecodePeerReport);
    case TransactionKind::kActivateRelease:
      return DecodeAs(bytes, DecodeActivateRelease);
    case TransactionKind::kActivateRules:
      return DecodeAs(bytes, DecodeActivateRules);
  }
  return Fail(ErrorCode::kCorruption,
              "unknown transaction kind " + std::to_string(static_cast<uint16_t>(kind)));
}

Bytes TransactionSignBytes(const Envelope& envelope) {
  codec::Encoder encoder;
  encoder.WriteFixed(AsBytes(kTransactionDomain));
  EncodeEnvelopeWithoutSignatures(encoder, envelope);
  return std::move(encoder).Take();
}

Bytes EncodeEnvelope(const Envelope& envelope) {
  codec::Encoder encoder;
  EncodeEnvelopeWithoutSignatures(encoder, envelope);
  encoder.WriteVector(envelope.signatures, [](codec::Encoder& e, const SignatureEntry& entry) {
    e.WriteFixed(entry.public_key);
    e.WriteFixed(entry.signature);
  });
  return std::move(encoder).Take();
}

Expected<Envelope> DecodeEnvelope(ByteSpan bytes) {
  if (bytes.size() > limits::kLedgerTransactionBytesMax) {
    return Fail(ErrorCode::kCorruption, "transaction of " + std::to_string(bytes.size()) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(limits::kLedgerTransactionBytesMax));
  }
  return codec::DecodeExactly(bytes, DecodeEnvelopeFrom);
}

TransactionId ComputeTransactionId(ByteSpan encoded_envelope) {
  return crypto::Sha256(encoded_envelope);
}

Bytes SignTransaction(std::string_view chain_id, const Body& body, uint64_t sequence,
                      const crypto::PrivateKey& signer,
                      std::span<const crypto::PrivateKey* const> co_signers) {
  Envelope envelope{.chain_id = std::string(chain_id),
                    .kind = BodyKind(body),
                    .body = EncodeBody(body),
                    .signer = signer.public_key(),
                    .sequence = sequence,
                    .signatures = {}};
  Bytes sign_bytes = TransactionSignBytes(envelope);
  envelope.signatures.push_back({signer.public_key(), signer.Sign(sign_bytes)});
  std::vector<const crypto::PrivateKey*> sorted(co_signers.begin(), co_signers.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto* left, const auto* right) {
    return left->public_key() < right->public_key();
  });
  for (const crypto::PrivateKey* key : sorted) {
    envelope.signatures.push_back({key->public_key(), key->Sign(sign_bytes)});
  }
  return EncodeEnvelope(envelope);
}

TransactionResult Refuse(ResultCode code, std::string reason) {
  if (reason.size() > limits::kLedgerReasonBytesMax) {
    size_t end = limits::kLedgerReasonBytesMax;
    // Back up over UTF-8 continuation bytes (10xxxxxx) so the cut lands between characters.
    while (end > 0 && (static_cast<uint8_t>(reason[end]) & 0xC0) == 0x80) --end;
    reason.resize(end);
  }
  return TransactionResult{code, std::move(reason)};
}

void EncodeResult(codec::Encoder& encoder, const TransactionResult& result) {
  encoder.WriteU16(static_cast<uint16_t>(result.code));
  encoder.WriteString(result.reason);
}

Expected<TransactionResult> DecodeResult(codec::Decoder& decoder) {
  TransactionResult result;
  VIGIL_ASSIGN_OR_RETURN(uint16_t code, decoder.ReadU16("code"));
  if (code > static_cast<uint16_t>(ResultCode::kConflict)) {
    return Fail(ErrorCode::kCorruption, "unknown result code " + std::to_string(code));
  }
  result.code = static_cast<ResultCode>(code);
  VIGIL_ASSIGN_OR_RETURN(result.reason,
                         decoder.ReadString("reason", limits::kLedgerReasonBytesMax));
  return result;
}

Bytes EncodeResult(const TransactionResult& result) {
  codec::Encoder encoder;
  EncodeResult(encoder, result);
  return std::move(encoder).Take();
}

Expected<TransactionResult> DecodeResult(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](codec::Decoder& d) { return DecodeResult(d); });
}

Bytes EncodeResultLeaf(const TransactionId& id, const TransactionResult& result) {
  codec::Encoder encoder;
  encoder.WriteFixed(id);
  EncodeResult(encoder, result);
  return std::move(encoder).Take();
}

const VerifyFunction& DefaultVerifyFunction() {
  static const VerifyFunction* const verify =
      new VerifyFunction([](const PublicKey& key, ByteSpan message, const Signature& signature) {
        return crypto::Verify(key, message, signature);
      });
  return *verify;
}

std::expected<CheckedTransaction, TransactionResult> CheckTransactionStateless(
    ByteSpan encoded, std::string_view chain_id, const VerifyFunction& verify) {
  auto envelope = DecodeEnvelope(encoded);
  if (!envelope) {
    return std::unexpected(Refuse(ResultCode::kMalformed,
                                  "transaction does not decode: " + envelope.error().message()));
  }
  if (envelope->chain_id != chain_id) {
    return std::unexpected(Refuse(ResultCode::kWrongChain,
                                  "transaction is for chain \"" + envelope->chain_id +
                                      "\", this ledger is \"" + std::string(chain_id) + "\""));
  }
  std::string kind_name(TransactionKindName(envelope->kind));
  if (!IsGovernanceKind(envelope->kind) && envelope->signatures.size() != 1) {
    return std::unexpected(
        Refuse(ResultCode::kMalformed, kind_name + " carries " +
                                           std::to_string(envelope->signatures.size() - 1) +
                                           " co-signatures; only governance kinds are co-signed"));
  }
  auto body = DecodeBody(envelope->kind, envelope->body);
  if (!body) {
    return std::unexpected(
        Refuse(ResultCode::kMalformed, kind_name + " body is invalid: " + body.error().message()));
  }
  Bytes sign_bytes = TransactionSignBytes(*envelope);
  for (const SignatureEntry& entry : envelope->signatures) {
    if (!verify(entry.public_key, sign_bytes, entry.signature)) {
      return std::unexpected(
          Refuse(ResultCode::kBadSignature,
                 kind_name + " signature by " + ToHex(entry.public_key) + " does not verify"));
    }
  }
  return CheckedTransaction{.encoded = Bytes(encoded.begin(), encoded.end()),
                            .id = ComputeTransactionId(encoded),
                            .envelope = std::move(*envelope),
                            .body = std::move(*body)};
}

}  // namespace vigil::ledger
