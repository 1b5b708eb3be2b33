// The gateway ↔ device messages: canonical round trips, strict decoding, and the device's
// check of an offer against forgeries.

#include "delivery/protocol.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../ledger/test_chain.h"

namespace vigil::delivery {
namespace {

using ledger::testing::TestChain;

// Writes one fuzz seed (fuzz/corpus/delivery_protocol_fuzz) when VIGIL_WRITE_FUZZ_SEEDS names a
// directory: `VIGIL_WRITE_FUZZ_SEEDS=fuzz/corpus/delivery_protocol_fuzz .../delivery_test`.
void MaybeWriteSeed(uint8_t selector, const Bytes& encoded, const std::string& name) {
  const char* directory = std::getenv("VIGIL_WRITE_FUZZ_SEEDS");
  if (directory == nullptr) return;
  std::ofstream out(std::filesystem::path(directory) / name, std::ios::binary);
  out.put(static_cast<char>(selector));
  out.write(reinterpret_cast<const char*>(encoded.data()),
            static_cast<std::streamsize>(encoded.size()));
}

// `selector` is the fuzz target's first byte for this message.
template <typename Message, typename Decode>
void ExpectRoundTrip(const Message& message, Decode decode, uint8_t selector, const char* name) {
  Bytes encoded = Encode(message);
  MaybeWriteSeed(selector, encoded, name);
  auto decoded = decode(encoded);
  ASSERT_TRUE(decoded.has_value()) << name << ": " << decoded.error().message();
  EXPECT_EQ(*decoded, message) << name;
  EXPECT_EQ(Encode(*decoded), encoded) << name << " re-encodes to other bytes";
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(decode(longer).has_value()) << name << " accepted a trailing byte";
  if (!encoded.empty()) {
    Bytes shorter(encoded.begin(), encoded.end() - 1);
    EXPECT_FALSE(decode(shorter).has_value()) << name << " accepted a truncated message";
  }
}

class DeliveryProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    publish_ = chain_.Sign(chain_.Release("press-control", "1.2.0"), chain_.keys().publisher);
    chain_.Commit({publish_});
    chain_.Commit({});  // block 2 carries block 1's certificate
  }

  // The offer a gateway would make from block 1.
  Offer GenuineOffer() { return Offer{.publish = ProveFirstTransaction(1)}; }

  // The proof of the first (accepted) transaction of committed block `height`, as a gateway
  // builds it; the next block must be committed too (it carries the certificate).
  api::TransactionProof ProveFirstTransaction(uint64_t height) {
    const ledger::Block& block = chain_.blocks()[height - 1];
    api::CommittedBlock committed{.height = height,
                                  .block = ledger::EncodeBlock(block),
                                  .certificate = *chain_.blocks()[height].last_commit,
                                  .results = {ledger::TransactionResult{}}};
    auto proof = api::ProveTransaction(block, committed, 0);
    EXPECT_TRUE(proof.has_value());
    return proof.value_or(api::TransactionProof{});
  }

  // A block holding only `transaction`, which the ledger commits with a refusal, certified by
  // the validators: the proof of that refused transaction.
  api::TransactionProof ProveRefused(const Bytes& transaction) {
    ledger::Block forged = chain_.ForgeBlock({transaction});
    auto execution = ledger::ExecuteBlock(chain_.state(), forged);
    EXPECT_TRUE(execution.has_value()) << execution.error().message();
    EXPECT_FALSE(execution->results[0].ok());
    api::CommittedBlock committed{
        .height = forged.header.height,
        .block = ledger::EncodeBlock(forged),
        .certificate =
            chain_.CertificateFor(forged.header.height, ledger::BlockHash(forged.header)),
        .results = execution->results};
    auto proof = api::ProveTransaction(forged, committed, 0);
    EXPECT_TRUE(proof.has_value());
    return proof.value_or(api::TransactionProof{});
  }

  TestChain chain_;
  Bytes publish_;
};

TEST_F(DeliveryProtocolTest, EveryMessageRoundTripsCanonicallyAndStrictly) {
  ExpectRoundTrip(Hello{.apps = {{"press-control", "1.0.0", "1.1.0"}, {"vision", "", ""}}},
                  DecodeHello, 0, "hello");
  ExpectRoundTrip(Welcome{.chain_id = "vigil-test",
                          .ledger_height = 9,
                          .next_sequence = 4,
                          .enrollment = GenuineOffer().publish},
                  DecodeWelcome, 1, "welcome");
  ExpectRoundTrip(GenuineOffer(), DecodeOffer, 2, "offer");
  ExpectRoundTrip(ChunkRequest{.request_id = 7,
                               .bundle_digest = crypto::Sha256(Bytes{1}),
                               .offset = 1 << 20,
                               .length = 65536},
                  DecodeChunkRequest, 3, "chunk-request");
  ExpectRoundTrip(Chunk{.request_id = 7, .offset = 3, .bytes = {1, 2, 3}, .error = ""}, DecodeChunk,
                  4, "chunk");
  ExpectRoundTrip(Chunk{.request_id = 8, .offset = 0, .bytes = {}, .error = "not cached yet"},
                  DecodeChunk, 4, "chunk-error");
  ExpectRoundTrip(Report{.request_id = 5, .transaction = publish_}, DecodeReport, 5, "report");
  ExpectRoundTrip(ReportResult{.request_id = 5,
                               .outcome = ReportOutcome::kRefused,
                               .height = 0,
                               .result = ledger::Refuse(ledger::ResultCode::kBadSequence, "gap"),
                               .next_sequence = 3},
                  DecodeReportResult, 6, "report-result");
  ExpectRoundTrip(ReleaseRequest{.app = "press-control", .version = "1.2.0"},
                  DecodeReleaseRequest, 10, "release-request");
}

// The gateway's in-place chunk encoding is byte for byte the Chunk encoding; a device's view
// decodes it without a copy; a failed fill becomes the error chunk.
TEST_F(DeliveryProtocolTest, ChunkFilledInPlaceEncodesAsTheChunkAndAFailedFillAsItsError) {
  Bytes payload = {9, 8, 7, 6, 5};
  Bytes filled = EncodeChunk(7, 3, payload.size(), [&](std::span<uint8_t> out) -> Status {
    std::copy(payload.begin(), payload.end(), out.begin());
    return Ok();
  });
  EXPECT_EQ(filled, Encode(Chunk{.request_id = 7, .offset = 3, .bytes = payload, .error = ""}));
  auto view = DecodeChunkView(filled);
  ASSERT_TRUE(view.has_value()) << view.error().message();
  EXPECT_EQ(view->request_id, 7u);
  EXPECT_EQ(view->offset, 3u);
  EXPECT_EQ(Bytes(view->bytes.begin(), view->bytes.end()), payload);
  EXPECT_GE(view->bytes.data(), filled.data());  // points into the frame
  EXPECT_LT(view->bytes.data(), filled.data() + filled.size());

  Bytes failed = EncodeChunk(8, 0, 4096, [](std::span<uint8_t>) -> Status {
    return Fail(ErrorCode::kNotFound, "bundle is not in the cache");
  });
  EXPECT_EQ(failed, Encode(Chunk{.request_id = 8,
                                 .offset = 0,
                                 .bytes = {},
                                 .error = "bundle is not in the cache"}));
}

TEST_F(DeliveryProtocolTest, DecodersRefuseOutOfRangeFields) {
  // Apps out of order (or twice) would make two devices' hellos differ for the same facts.
  EXPECT_FALSE(DecodeHello(Encode(Hello{.apps = {{"b", "", ""}, {"a", "", ""}}})).has_value());
  EXPECT_FALSE(DecodeHello(Encode(Hello{.apps = {{"a", "", ""}, {"a", "", ""}}})).has_value());
  EXPECT_FALSE(DecodeHello(Encode(Hello{.apps = {{"Bad Name", "", ""}}})).has_value());
  Hello many;
  for (size_t i = 0; i <= limits::kDeliveryAppsMax; ++i) {
    many.apps.push_back({"app-" + std::to_string(1000 + i), "", ""});
  }
  EXPECT_FALSE(DecodeHello(Encode(many)).has_value());
  EXPECT_FALSE(DecodeReleaseRequest(Encode(ReleaseRequest{.app = "Bad Name", .version = "1.0.0"}))
                   .has_value());
  EXPECT_FALSE(DecodeReleaseRequest(Encode(ReleaseRequest{
                                        .app = "press-control",
                                        .version = std::string(limits::kLedgerVersionBytesMax + 1, '1')}))
                   .has_value());

  ChunkRequest request;
  request.request_id = 1;
  request.length = 0;
  auto zero = DecodeChunkRequest(Encode(request));
  ASSERT_FALSE(zero.has_value());
  EXPECT_NE(zero.error().message().find("length 0"), std::string::npos);
  request.length = static_cast<uint32_t>(limits::kDeliveryChunkBytesMax + 1);
  EXPECT_FALSE(DecodeChunkRequest(Encode(request)).has_value());

  ReportResult report_result;
  report_result.request_id = 1;
  Bytes result = Encode(report_result);
  result[8] = 9;  // the outcome byte follows the u64 request id
  EXPECT_FALSE(DecodeReportResult(result).has_value());
}

TEST_F(DeliveryProtocolTest, AGenuineOfferVerifiesAgainstTheGenesisValidators) {
  auto release = VerifyOffer(chain_.validator_set(), chain_.genesis().chain_id, GenuineOffer());
  ASSERT_TRUE(release.has_value()) << release.error().message();
  EXPECT_EQ(release->app, "press-control");
  EXPECT_EQ(release->version, "1.2.0");
  EXPECT_EQ(release->publisher, chain_.keys().publisher.public_key());
  EXPECT_EQ(release->height, 1u);
  auto expected = chain_.Release("press-control", "1.2.0");
  EXPECT_EQ(release->bundle_digest, expected.bundle_digest);
  EXPECT_EQ(release->manifest_root, expected.manifest_root);
}

TEST_F(DeliveryProtocolTest, AForgedOfferIsRefusedWithTheCheckThatFailed) {
  auto expect_refused = [&](const Offer& offer, const std::string& words) {
    auto release = VerifyOffer(chain_.validator_set(), chain_.genesis().chain_id, offer);
    ASSERT_FALSE(release.has_value()) << "accepted: " << words;
    EXPECT_NE(release.error().message().find(words), std::string::npos)
        << release.error().message();
  };

  // A gateway swapping in another bundle digest breaks the inclusion proof.
  Offer swapped = GenuineOffer();
  auto envelope = ledger::DecodeEnvelope(swapped.publish.transaction);
  ASSERT_TRUE(envelope.has_value());
  auto body = chain_.Release("press-control", "1.2.0");
  body.bundle_digest[0] ^= 1;
  envelope->body = ledger::EncodeBody(body);
  swapped.publish.transaction = ledger::EncodeEnvelope(*envelope);
  expect_refused(swapped, "proof");

  // A result flipped to "ok" for a refused publication breaks the result proof.
  Offer flipped = GenuineOffer();
  flipped.publish.result = ledger::Refuse(ledger::ResultCode::kNotNewer, "older");
  expect_refused(flipped, "proof");

  // A certificate from validators the device does not know (a chain that is not its own).
  ledger::Genesis other = chain_.genesis();
  other.validators[0].public_key = ledger::testing::KeyFromByte(99).public_key();
  auto unknown =
      VerifyOffer(ledger::GenesisValidatorSet(other), chain_.genesis().chain_id, GenuineOffer());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("proof"), std::string::npos);

  // Another chain's id.
  auto wrong_chain = VerifyOffer(chain_.validator_set(), "other-chain", GenuineOffer());
  EXPECT_FALSE(wrong_chain.has_value());
}

TEST_F(DeliveryProtocolTest, AnOfferOfSomethingElseThanAPublicationIsRefused) {
  Bytes enroll = chain_.Govern(chain_.Enroll(chain_.keys().device1));
  chain_.Commit({enroll});
  chain_.Commit({});
  auto release = VerifyOffer(chain_.validator_set(), chain_.genesis().chain_id,
                             Offer{.publish = ProveFirstTransaction(3)});
  ASSERT_FALSE(release.has_value());
  EXPECT_NE(release.error().message().find("not a release publication"), std::string::npos);
}

// A device's group decides which activations it follows: it comes from the enrollment the
// Welcome proves, never from the gateway's word.
TEST_F(DeliveryProtocolTest, AWelcomeProvesTheDevicesGroupWithItsEnrollment) {
  const auto& keys = chain_.keys();
  chain_.Commit({chain_.Govern(chain_.Enroll(keys.device1, "welders"))});
  chain_.Commit({});
  api::TransactionProof proof = ProveFirstTransaction(3);
  const auto& validators = chain_.validator_set();
  const std::string& chain_id = chain_.genesis().chain_id;
  auto group = VerifyEnrollment(validators, chain_id, keys.device1.public_key(), proof);
  ASSERT_TRUE(group.has_value()) << group.error().message();
  EXPECT_EQ(*group, "welders");

  auto expect_refused = [&](const crypto::PublicKey& device, const api::TransactionProof& shown,
                            const std::string& words) {
    auto refused = VerifyEnrollment(validators, chain_id, device, shown);
    ASSERT_FALSE(refused.has_value()) << "accepted: " << words;
    EXPECT_NE(refused.error().message().find(words), std::string::npos)
        << refused.error().message();
  };
  // Another device's enrollment.
  expect_refused(keys.device2.public_key(), proof, "not of this one");
  // A gateway naming another group breaks the inclusion proof.
  api::TransactionProof regrouped = proof;
  auto envelope = ledger::DecodeEnvelope(regrouped.transaction);
  ASSERT_TRUE(envelope.has_value());
  envelope->body = ledger::EncodeBody(chain_.Enroll(keys.device1, "presses"));
  regrouped.transaction = ledger::EncodeEnvelope(*envelope);
  expect_refused(keys.device1.public_key(), regrouped, "proof");
  // Some other committed transaction.
  expect_refused(keys.device1.public_key(), GenuineOffer().publish, "not a device enrollment");
  // An enrollment the ledger refused (the key is enrolled already).
  expect_refused(keys.device1.public_key(),
                 ProveRefused(chain_.Govern(chain_.Enroll(keys.device1, "presses"))),
                 "the ledger refused this enrollment");
}

TEST_F(DeliveryProtocolTest, AnOfferOfAPublicationTheLedgerRefusedIsRefused) {
  // The same version again: the ledger commits it with a refusal (not newer).
  Bytes again = chain_.Sign(chain_.Release("press-control", "1.2.0"), chain_.keys().publisher);
  auto release = VerifyOffer(chain_.validator_set(), chain_.genesis().chain_id,
                             Offer{.publish = ProveRefused(again)});
  ASSERT_FALSE(release.has_value());
  EXPECT_NE(release.error().message().find("the ledger refused this publication"),
            std::string::npos)
      << release.error().message();
}

// --- Coordinated activation (seed 002) ---

class ActivationProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& keys = chain_.keys();
    chain_.Commit({chain_.Govern(chain_.Enroll(keys.device1)),
                   chain_.Sign(chain_.Release("press", "1.0.0"), keys.publisher)});
    chain_.Commit(
        {chain_.Sign(ledger::DeviceReport{.report_kind = ledger::DeviceReportKind::kInstalled,
                                          .app = "press",
                                          .version = "1.0.0",
                                          .observed_time_ms = 1,
                                          .snapshot_root = std::nullopt,
                                          .files_changed = 0,
                                          .duration_ms = 0,
                                          .detail = ""},
                     keys.device1)});
  }

  static ledger::ActivateRelease Activate(std::string version, uint64_t at_height) {
    return ledger::ActivateRelease{.group = "presses",
                                   .app = "press",
                                   .version = std::move(version),
                                   .timing = ledger::ActivationTiming::kAtHeight,
                                   .at_height = at_height,
                                   .at_time_ms = 0,
                                   .threshold_kind = ledger::InstalledThresholdKind::kPercent,
                                   .installed_threshold = 100,
                                   .on_missing = ledger::MissingVersionPolicy::kKeep};
  }

  TestChain chain_;
};

TEST_F(ActivationProtocolTest, AGenuineActivationVerifiesWithItsEffectiveHeight) {
  uint64_t at = chain_.state().tip().height + 4;
  Bytes transaction = chain_.Govern(Activate("1.0.0", at));
  auto execution = chain_.Commit({transaction});
  ASSERT_EQ(execution.results.size(), 1u);
  ASSERT_TRUE(execution.results[0].ok()) << execution.results[0].reason;
  size_t index = chain_.blocks().size() - 1;
  chain_.Commit({});
  const ledger::Block& block = chain_.blocks()[index];
  api::CommittedBlock committed{.height = block.header.height,
                                .block = ledger::EncodeBlock(block),
                                .certificate = *chain_.blocks()[index + 1].last_commit,
                                .results = execution.results};
  auto proof = api::ProveTransaction(block, committed, 0);
  ASSERT_TRUE(proof.has_value());
  Activation activation{.activate = *proof};
  ExpectRoundTrip(activation, DecodeActivation, 8, "activation");

  auto verified = VerifyActivation(chain_.validator_set(), ledger::testing::kChainId, activation);
  ASSERT_TRUE(verified.has_value()) << verified.error().message();
  EXPECT_EQ(verified->group, "presses");
  EXPECT_EQ(verified->app, "press");
  EXPECT_EQ(verified->version, "1.0.0");
  EXPECT_EQ(verified->recorded_height, block.header.height);
  EXPECT_EQ(verified->effective_height, at);
  EXPECT_EQ(verified->on_missing, ledger::MissingVersionPolicy::kKeep);
  EXPECT_FALSE(verified->IsEffectiveAt(at - 1, 0));
  EXPECT_TRUE(verified->IsEffectiveAt(at, 0));

  // Another chain, a tampered result, or an offer's proof are refused.
  EXPECT_FALSE(VerifyActivation(chain_.validator_set(), "other-chain", activation).has_value());
  Activation tampered = activation;
  tampered.activate.result = ledger::Refuse(ledger::ResultCode::kInsufficient, "no");
  EXPECT_FALSE(
      VerifyActivation(chain_.validator_set(), ledger::testing::kChainId, tampered).has_value());
  Activation forged = activation;
  forged.activate.certificate.signatures.clear();
  EXPECT_FALSE(
      VerifyActivation(chain_.validator_set(), ledger::testing::kChainId, forged).has_value());

  // A header of the chain verifies with its certificate; a header with another height does not.
  LedgerHeader header{.header = block.header,
                      .certificate = *chain_.blocks()[index + 1].last_commit};
  ExpectRoundTrip(header, DecodeLedgerHeader, 9, "ledger_header");
  EXPECT_TRUE(
      VerifyLedgerHeader(chain_.validator_set(), ledger::testing::kChainId, header).has_value());
  LedgerHeader lying = header;
  lying.header.height += 10;
  EXPECT_FALSE(
      VerifyLedgerHeader(chain_.validator_set(), ledger::testing::kChainId, lying).has_value());
  lying = header;
  lying.header.time_ms += 1;
  EXPECT_FALSE(
      VerifyLedgerHeader(chain_.validator_set(), ledger::testing::kChainId, lying).has_value());
}

TEST_F(ActivationProtocolTest, ARefusedActivationOrAPublicationIsNotAnActivation) {
  // 2.0.0 was never published: the ledger refuses it, and so does the device.
  Bytes transaction = chain_.Govern(Activate("2.0.0", chain_.state().tip().height + 4));
  auto execution = chain_.Commit({transaction});
  ASSERT_FALSE(execution.results[0].ok());
  size_t index = chain_.blocks().size() - 1;
  chain_.Commit({});
  const ledger::Block& block = chain_.blocks()[index];
  api::CommittedBlock committed{.height = block.header.height,
                                .block = ledger::EncodeBlock(block),
                                .certificate = *chain_.blocks()[index + 1].last_commit,
                                .results = execution.results};
  auto proof = api::ProveTransaction(block, committed, 0);
  ASSERT_TRUE(proof.has_value());
  auto refused = VerifyActivation(chain_.validator_set(), ledger::testing::kChainId,
                                  Activation{.activate = *proof});
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("refused this activation"), std::string::npos);
}

}  // namespace
}  // namespace vigil::delivery
