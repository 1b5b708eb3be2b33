#include "ledger/transaction.h"

#include <gtest/gtest.h>

#include "test_chain.h"

namespace vigil::ledger {
namespace {

using testing::kChainId;
using testing::KeyFromByte;

const crypto::PrivateKey& Admin(int index) {
  static const std::array<crypto::PrivateKey, 3> keys = {KeyFromByte(1), KeyFromByte(2),
                                                         KeyFromByte(3)};
  return keys[static_cast<size_t>(index)];
}

std::vector<Body> EveryBody() {
  return {
      EnrollDevice{.device_key = KeyFromByte(30).public_key(),
                   .group = "presses",
                   .labels = {"line=3", "site=plant-a"}},
      RevokeDevice{.device_key = KeyFromByte(30).public_key(), .reason = "stolen"},
      AddPublisher{.publisher_key = KeyFromByte(11).public_key(), .name = "ci-bot"},
      RemovePublisher{.publisher_key = KeyFromByte(11).public_key(), .reason = "rotated"},
      PublishRelease{.app = "press-controller",
                     .version = "2.4.0-rc.1",
                     .bundle_digest = crypto::Sha256(AsBytes("b")),
                     .bundle_size_bytes = 9,
                     .manifest_root = crypto::Sha256(AsBytes("m")),
                     .notes = "notes"},
      DeviceReport{.report_kind = DeviceReportKind::kTamperDetected,
                   .app = "press-controller",
                   .version = "2.4.0",
                   .observed_time_ms = -5,
                   .snapshot_root = crypto::Sha256(AsBytes("s")),
                   .files_changed = 2,
                   .duration_ms = 0,
                   .detail = "bin/press modified"},
      PeerReport{.supported_rules_versions = {1, 2}},
  };
}

TEST(TransactionTest, EveryBodyRoundTripsThroughTheEnvelope) {
  for (const Body& body : EveryBody()) {
    Bytes encoded = SignTransaction(kChainId, body, 7, Admin(0), std::vector{&Admin(2), &Admin(1)});
    if (!IsGovernanceKind(BodyKind(body))) encoded = SignTransaction(kChainId, body, 7, Admin(0));
    auto checked = CheckTransactionStateless(encoded, kChainId);
    ASSERT_TRUE(checked.has_value()) << checked.error().reason;
    EXPECT_EQ(checked->body, body);
    EXPECT_EQ(checked->envelope.sequence, 7u);
    EXPECT_EQ(checked->envelope.kind, BodyKind(body));
    EXPECT_EQ(checked->id, crypto::Sha256(encoded));
    EXPECT_EQ(EncodeEnvelope(checked->envelope), encoded);
    EXPECT_EQ(EncodeBody(checked->body), checked->envelope.body);
  }
}

TEST(TransactionTest, CoSignaturesAreSortedAndTheSignerComesFirst) {
  Bytes encoded =
      SignTransaction(kChainId, EveryBody()[0], 1, Admin(2), std::vector{&Admin(1), &Admin(0)});
  Envelope envelope = DecodeEnvelope(encoded).value();
  ASSERT_EQ(envelope.signatures.size(), 3u);
  EXPECT_EQ(envelope.signatures[0].public_key, Admin(2).public_key());
  EXPECT_LT(envelope.signatures[1].public_key, envelope.signatures[2].public_key);
}

TransactionResult StatelessRefusal(const Bytes& encoded, std::string_view chain = kChainId) {
  auto checked = CheckTransactionStateless(encoded, chain);
  EXPECT_FALSE(checked.has_value());
  return checked ? TransactionResult{} : checked.error();
}

TEST(TransactionTest, RefusesABadSignature) {
  Envelope envelope =
      DecodeEnvelope(SignTransaction(kChainId, EveryBody()[6], 1, Admin(0))).value();
  envelope.signatures[0].signature[5] ^= 1;
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(envelope)).code, ResultCode::kBadSignature);
  // A signature over other bytes (the sequence changed after signing) fails too.
  envelope = DecodeEnvelope(SignTransaction(kChainId, EveryBody()[6], 1, Admin(0))).value();
  envelope.sequence = 2;
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(envelope)).code, ResultCode::kBadSignature);
  // A co-signature that does not verify.
  envelope =
      DecodeEnvelope(SignTransaction(kChainId, EveryBody()[0], 1, Admin(0), std::vector{&Admin(1)}))
          .value();
  envelope.signatures[1].signature[0] ^= 1;
  TransactionResult result = StatelessRefusal(EncodeEnvelope(envelope));
  EXPECT_EQ(result.code, ResultCode::kBadSignature);
  EXPECT_NE(result.reason.find(ToHex(Admin(1).public_key())), std::string::npos) << result.reason;
}

TEST(TransactionTest, RefusesTheWrongChain) {
  TransactionResult result =
      StatelessRefusal(SignTransaction("other-chain", EveryBody()[6], 1, Admin(0)));
  EXPECT_EQ(result.code, ResultCode::kWrongChain);
  EXPECT_NE(result.reason.find("other-chain"), std::string::npos);
}

TEST(TransactionTest, SignaturesAreDomainSeparated) {
  Envelope envelope =
      DecodeEnvelope(SignTransaction(kChainId, EveryBody()[6], 1, Admin(0))).value();
  Bytes sign_bytes = TransactionSignBytes(envelope);
  ASSERT_GT(sign_bytes.size(), 20u);
  EXPECT_EQ(std::string(sign_bytes.begin(), sign_bytes.begin() + 20), "vigil/transaction/v1");
}

TEST(TransactionTest, RefusesDuplicateAndMisplacedCoSigners) {
  Envelope envelope =
      DecodeEnvelope(SignTransaction(kChainId, EveryBody()[0], 1, Admin(0), std::vector{&Admin(1)}))
          .value();
  Envelope duplicate = envelope;
  duplicate.signatures.push_back(envelope.signatures[1]);
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(duplicate)).code, ResultCode::kMalformed);
  Envelope signer_twice = envelope;
  signer_twice.signatures[1] = envelope.signatures[0];
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(signer_twice)).code, ResultCode::kMalformed);
  Envelope signer_not_first = envelope;
  std::swap(signer_not_first.signatures[0], signer_not_first.signatures[1]);
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(signer_not_first)).code, ResultCode::kMalformed);
  Envelope unsigned_envelope = envelope;
  unsigned_envelope.signatures.clear();
  EXPECT_EQ(StatelessRefusal(EncodeEnvelope(unsigned_envelope)).code, ResultCode::kMalformed);
}

TEST(TransactionTest, OnlyGovernanceIsCoSigned) {
  Bytes encoded = SignTransaction(kChainId, EveryBody()[4], 1, Admin(0), std::vector{&Admin(1)});
  TransactionResult result = StatelessRefusal(encoded);
  EXPECT_EQ(result.code, ResultCode::kMalformed);
  EXPECT_NE(result.reason.find("only governance"), std::string::npos) << result.reason;
}

TEST(TransactionTest, RefusesMalformedBodies) {
  auto refused = [](Body body) {
    TransactionResult result = StatelessRefusal(SignTransaction(kChainId, body, 1, Admin(0)));
    EXPECT_EQ(result.code, ResultCode::kMalformed);
    return result.reason;
  };
  PublishRelease publish = std::get<PublishRelease>(EveryBody()[4]);
  publish.version = "2.4";
  EXPECT_NE(refused(publish).find("semantic version"), std::string::npos);
  publish.version = "2.4.0";
  publish.app = "Press Controller";
  EXPECT_NE(refused(publish).find("[a-z0-9._-]"), std::string::npos);
  publish.app = "press-controller";
  publish.bundle_size_bytes = 0;
  refused(publish);

  EnrollDevice enroll = std::get<EnrollDevice>(EveryBody()[0]);
  enroll.labels = {"site=plant-a", "line=3"};  // unsorted set
  EXPECT_NE(refused(enroll).find("sorted"), std::string::npos);
  enroll.labels = {"line=3", "line=3"};  // duplicate
  refused(enroll);
  enroll.labels = {"line 3"};  // charset
  refused(enroll);
  enroll.labels = {};
  enroll.group = "";
  refused(enroll);

  DeviceReport snapshot{.report_kind = DeviceReportKind::kIntegritySnapshot, .app = "press"};
  EXPECT_NE(refused(snapshot).find("snapshot_root"), std::string::npos);
  DeviceReport installed{
      .report_kind = DeviceReportKind::kInstalled, .app = "press", .version = ""};
  refused(installed);
  refused(PeerReport{.supported_rules_versions = {2, 1}});
  refused(PeerReport{.supported_rules_versions = {0, 1}});
  refused(PeerReport{.supported_rules_versions = {}});
  refused(AddPublisher{.publisher_key = {}, .name = "has space"});
}

TEST(TransactionTest, RefusesOversizeFields) {
  auto refused = [](Body body) {
    EXPECT_EQ(StatelessRefusal(SignTransaction(kChainId, body, 1, Admin(0))).code,
              ResultCode::kMalformed);
  };
  PublishRelease publish = std::get<PublishRelease>(EveryBody()[4]);
  publish.notes = std::string(limits::kLedgerNotesBytesMax + 1, 'n');
  refused(publish);
  publish.notes = "";
  publish.app = std::string(limits::kLedgerNameBytesMax + 1, 'a');
  refused(publish);
  publish.app = "press";
  publish.version = "1.0.0-" + std::string(limits::kLedgerVersionBytesMax, 'a');
  refused(publish);
  EnrollDevice enroll = std::get<EnrollDevice>(EveryBody()[0]);
  enroll.labels.clear();
  for (size_t i = 0; i <= limits::kLedgerLabelsMax; ++i) {
    enroll.labels.push_back("label-" + std::string(3 - std::to_string(i).size(), '0') +
                            std::to_string(i));
  }
  refused(enroll);
  enroll.labels = {std::string(limits::kLedgerLabelBytesMax + 1, 'l')};
  refused(enroll);
  DeviceReport report = std::get<DeviceReport>(EveryBody()[5]);
  report.detail = std::string(limits::kLedgerDetailBytesMax + 1, 'd');
  refused(report);
  // A whole envelope above the transaction limit is refused before decoding.
  Bytes huge(limits::kLedgerTransactionBytesMax + 1, 0);
  EXPECT_EQ(StatelessRefusal(huge).code, ResultCode::kMalformed);
}

TEST(TransactionTest, RefusesTruncationTrailingBytesAndUnknownKinds) {
  Bytes encoded = SignTransaction(kChainId, EveryBody()[6], 1, Admin(0));
  for (size_t size = 0; size < encoded.size(); ++size) {
    Bytes truncated(encoded.begin(), encoded.begin() + static_cast<ptrdiff_t>(size));
    EXPECT_EQ(StatelessRefusal(truncated).code, ResultCode::kMalformed);
  }
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_EQ(StatelessRefusal(trailing).code, ResultCode::kMalformed);
  Envelope envelope = DecodeEnvelope(encoded).value();
  Bytes unknown = EncodeEnvelope(envelope);
  // The kind follows the u32-prefixed chain id.
  size_t kind_offset = 4 + kChainId.size();
  unknown[kind_offset] = 99;
  EXPECT_EQ(StatelessRefusal(unknown).code, ResultCode::kMalformed);
}

TEST(TransactionTest, RefuseTruncatesLongReasonsAtACharacterBoundary) {
  std::string reason(limits::kLedgerReasonBytesMax - 1, 'a');
  reason += "é and more";
  TransactionResult result = Refuse(ResultCode::kNotFound, reason);
  EXPECT_EQ(result.reason.size(), limits::kLedgerReasonBytesMax - 1);
  EXPECT_TRUE(codec::IsValidUtf8(result.reason));
  codec::Encoder encoder;
  EncodeResult(encoder, result);
  codec::Decoder decoder(encoder.bytes());
  EXPECT_EQ(DecodeResult(decoder).value(), result);
  EXPECT_EQ(DecodeResult(EncodeResult(result)).value(), result);
  Bytes unknown_code = EncodeResult(result);
  unknown_code[0] = 200;
  EXPECT_FALSE(DecodeResult(unknown_code).has_value());
}

}  // namespace
}  // namespace vigil::ledger
