#include "delivery/protocol.h"

#include <algorithm>

#include "codec/codec.h"
#include "common/limits.h"

namespace vigil::delivery {
namespace {

using codec::Decoder;
using codec::Encoder;

template <typename Message, typename Write>
Bytes EncodeWith(const Message& message, Write write) {
  Encoder encoder;
  write(encoder, message);
  return std::move(encoder).Take();
}

void WriteAppStatus(Encoder& encoder, const AppStatus& status) {
  encoder.WriteString(status.app);
  encoder.WriteString(status.running_version);
  encoder.WriteString(status.staged_version);
}

Expected<AppStatus> ReadAppStatus(Decoder& decoder) {
  AppStatus status;
  VIGIL_ASSIGN_OR_RETURN(status.app, decoder.ReadString("app", limits::kLedgerNameBytesMax));
  VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("app", status.app));
  VIGIL_ASSIGN_OR_RETURN(status.running_version,
                         decoder.ReadString("running version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(status.staged_version,
                         decoder.ReadString("staged version", limits::kLedgerVersionBytesMax));
  return status;
}

}  // namespace

bool IsDeliveryFrame(transport::FrameType type) {
  return type >= kFrameHello && type <= kFrameReleaseRequest;
}

Bytes Encode(const Hello& message) {
  return EncodeWith(message, [](Encoder& encoder, const Hello& hello) {
    encoder.WriteVector(hello.apps, WriteAppStatus);
  });
}

Expected<Hello> DecodeHello(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<Hello> {
    Hello hello;
    VIGIL_ASSIGN_OR_RETURN(hello.apps,
                           decoder.ReadVector("apps", limits::kDeliveryAppsMax, ReadAppStatus));
    for (size_t i = 1; i < hello.apps.size(); ++i) {
      if (hello.apps[i - 1].app >= hello.apps[i].app) {
        return Fail(ErrorCode::kInvalidArgument,
                    "hello: apps must be sorted by name and unique ('" + hello.apps[i].app +
                        "' after '" + hello.apps[i - 1].app + "')");
      }
    }
    return hello;
  });
}

Bytes Encode(const Welcome& message) {
  return EncodeWith(message, [](Encoder& encoder, const Welcome& welcome) {
    encoder.WriteString(welcome.chain_id);
    encoder.WriteU64(welcome.ledger_height);
    encoder.WriteU64(welcome.next_sequence);
    api::EncodeTransactionProof(encoder, welcome.enrollment);
  });
}

Expected<Welcome> DecodeWelcome(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<Welcome> {
    Welcome welcome;
    VIGIL_ASSIGN_OR_RETURN(welcome.chain_id,
                           decoder.ReadString("chain id", limits::kLedgerNameBytesMax));
    VIGIL_ASSIGN_OR_RETURN(welcome.ledger_height, decoder.ReadU64("ledger height"));
    VIGIL_ASSIGN_OR_RETURN(welcome.next_sequence, decoder.ReadU64("next sequence"));
    VIGIL_ASSIGN_OR_RETURN(welcome.enrollment, api::DecodeTransactionProof(decoder));
    return welcome;
  });
}

Bytes Encode(const ReleaseRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const ReleaseRequest& request) {
    encoder.WriteString(request.app);
    encoder.WriteString(request.version);
  });
}

Expected<ReleaseRequest> DecodeReleaseRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ReleaseRequest> {
    ReleaseRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.app, decoder.ReadString("app", limits::kLedgerNameBytesMax));
    VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("app", request.app));
    VIGIL_ASSIGN_OR_RETURN(request.version,
                           decoder.ReadString("version", limits::kLedgerVersionBytesMax));
    return request;
  });
}

Bytes Encode(const Offer& message) {
  return EncodeWith(message, [](Encoder& encoder, const Offer& offer) {
    api::EncodeTransactionProof(encoder, offer.publish);
  });
}

Expected<Offer> DecodeOffer(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<Offer> {
    Offer offer;
    VIGIL_ASSIGN_OR_RETURN(offer.publish, api::DecodeTransactionProof(decoder));
    return offer;
  });
}

Bytes Encode(const ChunkRequest& message) {
  return EncodeWith(message, [](Encoder& encoder, const ChunkRequest& request) {
    encoder.WriteU64(request.request_id);
    encoder.WriteFixed(request.bundle_digest);
    encoder.WriteU64(request.offset);
    encoder.WriteU32(request.length);
  });
}

Expected<ChunkRequest> DecodeChunkRequest(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ChunkRequest> {
    ChunkRequest request;
    VIGIL_ASSIGN_OR_RETURN(request.request_id, decoder.ReadU64("request id"));
    VIGIL_ASSIGN_OR_RETURN(request.bundle_digest,
                           decoder.ReadFixed<limits::kSha256DigestBytes>("bundle digest"));
    VIGIL_ASSIGN_OR_RETURN(request.offset, decoder.ReadU64("offset"));
    VIGIL_ASSIGN_OR_RETURN(request.length, decoder.ReadU32("length"));
    if (request.length == 0 || request.length > limits::kDeliveryChunkBytesMax) {
      return Fail(ErrorCode::kInvalidArgument,
                  "chunk request: length " + std::to_string(request.length) + " is outside 1.." +
                      std::to_string(limits::kDeliveryChunkBytesMax));
    }
    return request;
  });
}

Bytes Encode(const Chunk& message) {
  Encoder encoder;
  encoder.Reserve(2 * 8 + 4 + message.bytes.size() + 4 + message.error.size());
  encoder.WriteU64(message.request_id);
  encoder.WriteU64(message.offset);
  encoder.WriteBytes(message.bytes);
  encoder.WriteString(message.error);
  return std::move(encoder).Take();
}

Bytes EncodeChunk(uint64_t request_id, uint64_t offset, size_t length,
                  const std::function<Status(std::span<uint8_t>)>& fill) {
  Encoder encoder;
  encoder.Reserve(2 * 8 + 4 + length + 4);
  encoder.WriteU64(request_id);
  encoder.WriteU64(offset);
  if (Status filled = encoder.WriteBytesFrom(length, fill); !filled) {
    encoder.WriteBytes({});
    encoder.WriteString(filled.error().message());
  } else {
    encoder.WriteString("");
  }
  return std::move(encoder).Take();
}

Expected<ChunkView> DecodeChunkView(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ChunkView> {
    ChunkView chunk;
    VIGIL_ASSIGN_OR_RETURN(chunk.request_id, decoder.ReadU64("request id"));
    VIGIL_ASSIGN_OR_RETURN(chunk.offset, decoder.ReadU64("offset"));
    VIGIL_ASSIGN_OR_RETURN(chunk.bytes,
                           decoder.ReadBytesView("bytes", limits::kDeliveryChunkBytesMax));
    VIGIL_ASSIGN_OR_RETURN(chunk.error,
                           decoder.ReadString("error", limits::kDeliveryErrorBytesMax));
    return chunk;
  });
}

Expected<Chunk> DecodeChunk(ByteSpan bytes) {
  VIGIL_ASSIGN_OR_RETURN(ChunkView view, DecodeChunkView(bytes));
  return Chunk{.request_id = view.request_id,
               .offset = view.offset,
               .bytes = Bytes(view.bytes.begin(), view.bytes.end()),
               .error = std::move(view.error)};
}

Bytes Encode(const Report& message) {
  return EncodeWith(message, [](Encoder& encoder, const Report& report) {
    encoder.WriteU64(report.request_id);
    encoder.WriteBytes(report.transaction);
  });
}

Expected<Report> DecodeReport(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<Report> {
    Report report;
    VIGIL_ASSIGN_OR_RETURN(report.request_id, decoder.ReadU64("request id"));
    VIGIL_ASSIGN_OR_RETURN(report.transaction,
                           decoder.ReadBytes("transaction", limits::kLedgerTransactionBytesMax));
    return report;
  });
}

Bytes Encode(const ReportResult& message) {
  return EncodeWith(message, [](Encoder& encoder, const ReportResult& result) {
    encoder.WriteU64(result.request_id);
    encoder.WriteU8(static_cast<uint8_t>(result.outcome));
    encoder.WriteU64(result.height);
    ledger::EncodeResult(encoder, result.result);
    encoder.WriteU64(result.next_sequence);
  });
}

Expected<ReportResult> DecodeReportResult(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<ReportResult> {
    ReportResult result;
    VIGIL_ASSIGN_OR_RETURN(result.request_id, decoder.ReadU64("request id"));
    VIGIL_ASSIGN_OR_RETURN(uint8_t outcome, decoder.ReadU8("outcome"));
    if (outcome != static_cast<uint8_t>(ReportOutcome::kCommitted) &&
        outcome != static_cast<uint8_t>(ReportOutcome::kRefused)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "report result: unknown outcome " + std::to_string(outcome));
    }
    result.outcome = static_cast<ReportOutcome>(outcome);
    VIGIL_ASSIGN_OR_RETURN(result.height, decoder.ReadU64("height"));
    VIGIL_ASSIGN_OR_RETURN(result.result, ledger::DecodeResult(decoder));
    VIGIL_ASSIGN_OR_RETURN(result.next_sequence, decoder.ReadU64("next sequence"));
    return result;
  });
}

Bytes Encode(const Activation& message) {
  return EncodeWith(message, [](Encoder& encoder, const Activation& activation) {
    api::EncodeTransactionProof(encoder, activation.activate);
  });
}

Expected<Activation> DecodeActivation(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<Activation> {
    Activation activation;
    VIGIL_ASSIGN_OR_RETURN(activation.activate, api::DecodeTransactionProof(decoder));
    return activation;
  });
}

Bytes Encode(const LedgerHeader& message) {
  return EncodeWith(message, [](Encoder& encoder, const LedgerHeader& header) {
    ledger::EncodeHeader(encoder, header.header);
    consensus::EncodeCommitCertificate(encoder, header.certificate);
  });
}

Expected<LedgerHeader> DecodeLedgerHeader(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](Decoder& decoder) -> Expected<LedgerHeader> {
    LedgerHeader header;
    VIGIL_ASSIGN_OR_RETURN(header.header, ledger::DecodeHeader(decoder));
    VIGIL_ASSIGN_OR_RETURN(header.certificate, consensus::DecodeCommitCertificate(decoder));
    return header;
  });
}

namespace {

// What a device believes of a transaction a gateway relays, whatever its kind: the proof
// verifies against `validators` (2f+1 of them committed the block, the transaction and its
// result are in it), the transaction passes the stateless check for `chain_id` (its
// signatures), its body is a `Body`, and the ledger accepted it. `what` names it in errors
// ("offer"), `kind` says what it must be ("a release publication"), `noun` what was refused.
template <typename Body>
struct ProvenTransaction {
  Body body;
  PublicKey signer;
};

template <typename Body>
Expected<ProvenTransaction<Body>> CheckProven(const consensus::ValidatorSet& validators,
                                              std::string_view chain_id,
                                              const api::TransactionProof& proof,
                                              const std::string& what, const std::string& kind,
                                              const std::string& noun) {
  if (auto verified = api::VerifyTransactionProof(validators, chain_id, proof); !verified) {
    return std::unexpected(verified.error().WithContext("the " + what + "'s ledger proof"));
  }
  auto checked = ledger::CheckTransactionStateless(proof.transaction, chain_id);
  if (!checked) {
    return Fail(ErrorCode::kRefused, "the " + what + " transaction does not pass its checks: " +
                                         checked.error().reason);
  }
  const auto* body = std::get_if<Body>(&checked->body);
  if (body == nullptr) {
    return Fail(ErrorCode::kRefused, "the " + what + " transaction is not " + kind);
  }
  if (!proof.result.ok()) {
    return Fail(ErrorCode::kRefused, "the ledger refused this " + noun + " (" +
                                         std::string(ledger::ResultCodeName(proof.result.code)) +
                                         ": " + proof.result.reason + ")");
  }
  return ProvenTransaction<Body>{.body = *body, .signer = checked->envelope.signer};
}

}  // namespace

Expected<std::string> VerifyEnrollment(const consensus::ValidatorSet& validators,
                                       std::string_view chain_id, const PublicKey& device,
                                       const api::TransactionProof& enrollment) {
  VIGIL_ASSIGN_OR_RETURN(auto enroll, CheckProven<ledger::EnrollDevice>(
                                          validators, chain_id, enrollment, "enrollment",
                                          "a device enrollment", "enrollment"));
  if (enroll.body.device_key != device) {
    return Fail(ErrorCode::kRefused, "the enrollment is of device " +
                                         ToHex(enroll.body.device_key).substr(0, 16) +
                                         ", not of this one");
  }
  return std::move(enroll.body.group);
}

Expected<VerifiedActivation> VerifyActivation(const consensus::ValidatorSet& validators,
                                              std::string_view chain_id,
                                              const Activation& activation) {
  const api::TransactionProof& proof = activation.activate;
  VIGIL_ASSIGN_OR_RETURN(auto proven, CheckProven<ledger::ActivateRelease>(
                                          validators, chain_id, proof, "activation",
                                          "a release activation", "activation"));
  const ledger::ActivateRelease* activate = &proven.body;
  VerifiedActivation verified{.group = activate->group,
                              .app = activate->app,
                              .version = activate->version,
                              .recorded_height = proof.height,
                              .index = proof.transaction_proof.leaf_index,
                              .effective_height = 0,
                              .effective_time_ms = 0,
                              .on_missing = activate->on_missing};
  switch (activate->timing) {
    case ledger::ActivationTiming::kAtHeight:
      verified.effective_height = activate->at_height;
      break;
    case ledger::ActivationTiming::kAtTime:
      verified.effective_time_ms = activate->at_time_ms;
      break;
    case ledger::ActivationTiming::kNext:
      verified.effective_height = proof.height + 1;
      break;
  }
  return verified;
}

Status VerifyLedgerHeader(const consensus::ValidatorSet& validators, std::string_view chain_id,
                          const LedgerHeader& header) {
  if (header.header.chain_id != chain_id) {
    return Fail(ErrorCode::kRefused, "the header is of chain '" + header.header.chain_id +
                                         "', not '" + std::string(chain_id) + "'");
  }
  return ledger::VerifyHeaderCommitted(validators, header.header, header.certificate);
}

Expected<VerifiedRelease> VerifyOffer(const consensus::ValidatorSet& validators,
                                      std::string_view chain_id, const Offer& offer) {
  const api::TransactionProof& proof = offer.publish;
  VIGIL_ASSIGN_OR_RETURN(auto publish, CheckProven<ledger::PublishRelease>(
                                           validators, chain_id, proof, "offer",
                                           "a release publication", "publication"));
  return VerifiedRelease{.app = std::move(publish.body.app),
                         .version = std::move(publish.body.version),
                         .bundle_digest = publish.body.bundle_digest,
                         .bundle_size_bytes = publish.body.bundle_size_bytes,
                         .manifest_root = publish.body.manifest_root,
                         .publisher = publish.signer,
                         .height = proof.height};
}

}  // namespace vigil::delivery
