// The peer protocol's encodings (canonical round trips, strict refusals) and the light-client
// checks, on a real chain built by the ledger's test helpers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "api/messages.h"
#include "ledger/test_chain.h"

namespace vigil::api {
namespace {

using ledger::testing::TestChain;

// Writes one fuzz seed (fuzz/corpus/peer_protocol_fuzz) when VIGIL_WRITE_FUZZ_SEEDS names a
// directory: `VIGIL_WRITE_FUZZ_SEEDS=fuzz/corpus/peer_protocol_fuzz build/.../api_test`.
void MaybeWriteSeed(uint8_t selector, const Bytes& encoded, const std::string& name) {
  const char* directory = std::getenv("VIGIL_WRITE_FUZZ_SEEDS");
  if (directory == nullptr) return;
  std::ofstream out(std::filesystem::path(directory) / name, std::ios::binary);
  out.put(static_cast<char>(selector));
  out.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
}

template <typename Message, typename Decode>
void ExpectRoundTrip(const Message& message, Decode decode, uint8_t selector,
                     const std::string& name) {
  Bytes encoded = Encode(message);
  auto decoded = decode(encoded);
  ASSERT_TRUE(decoded.has_value()) << name << ": " << decoded.error().message();
  EXPECT_EQ(*decoded, message) << name;
  // Strict: a trailing byte and a truncation are both refused.
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(decode(longer).has_value()) << name;
  if (!encoded.empty()) {
    Bytes shorter(encoded.begin(), encoded.end() - 1);
    EXPECT_FALSE(decode(shorter).has_value()) << name;
  }
  MaybeWriteSeed(selector, encoded, name);
}

class MessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    enroll_ = chain_.Govern(ledger::EnrollDevice{
        .device_key = chain_.keys().device1.public_key(), .group = "line-1", .labels = {}});
    chain_.Commit({enroll_});
    chain_.Commit({});  // block 2 carries block 1's certificate
  }

  // Block 1 with its certificate, as a peer would serve it.
  CommittedBlock BlockOne() {
    const ledger::Block& block = chain_.blocks()[0];
    CommittedBlock committed;
    committed.height = 1;
    committed.block = ledger::EncodeBlock(block);
    committed.certificate = *chain_.blocks()[1].last_commit;
    committed.results = {ledger::TransactionResult{}};
    return committed;
  }

  TransactionProof ProofOfEnroll() {
    const ledger::Block& block = chain_.blocks()[0];
    TransactionProof proof;
    proof.transaction = enroll_;
    proof.result = {};
    proof.height = 1;
    proof.transaction_proof = *merkle::Tree::FromLeaves(block.transactions).ProveInclusion(0);
    proof.result_proof =
        *merkle::Tree::FromLeaves(std::vector<Bytes>{ledger::EncodeResultLeaf(
                                      ledger::ComputeTransactionId(enroll_), proof.result)})
             .ProveInclusion(0);
    proof.header = block.header;
    proof.certificate = *chain_.blocks()[1].last_commit;
    return proof;
  }

  consensus::ValidatorSet Validators() { return ledger::GenesisValidatorSet(chain_.genesis()); }

  TestChain chain_;
  Bytes enroll_;
};

TEST_F(MessagesTest, EveryMessageRoundTripsCanonicallyAndStrictly) {
  ExpectRoundTrip(TransactionBatch{.transactions = {enroll_, Bytes{1, 2}}}, DecodeTransactionBatch,
                  0, "transaction-batch");
  ExpectRoundTrip(PeerStatus{.height = 42}, DecodePeerStatus, 1, "peer-status");
  ExpectRoundTrip(SyncRequest{.from_height = 3, .count = 16}, DecodeSyncRequest, 2, "sync-request");
  ExpectRoundTrip(SyncResponse{.commits = {consensus::Commit{.value = BlockOne().block,
                                                             .certificate = BlockOne().certificate}}},
                  DecodeSyncResponse, 3, "sync-response");
  ExpectRoundTrip(SubmitRequest{.request_id = 7, .transaction = enroll_, .wait_for_commit = true},
                  DecodeSubmitRequest, 4, "submit-request");
  ExpectRoundTrip(SubmitResponse{.request_id = 7,
                                 .transaction_id = ledger::ComputeTransactionId(enroll_),
                                 .outcome = SubmitOutcome::kCommitted,
                                 .result = ledger::Refuse(ledger::ResultCode::kAlreadyExists, "x"),
                                 .height = 5,
                                 .index = 2},
                  DecodeSubmitResponse, 5, "submit-response");
  ExpectRoundTrip(BlockRequest{.request_id = 1, .height = 0}, DecodeBlockRequest, 6,
                  "block-request");
  ExpectRoundTrip(BlockOne(), DecodeCommittedBlock, 7, "committed-block");
  ExpectRoundTrip(BlockResponse{.request_id = 2, .block = BlockOne()}, DecodeBlockResponse, 8,
                  "block-response");
  ExpectRoundTrip(TransactionRequest{.request_id = 3,
                                     .transaction_id = ledger::ComputeTransactionId(enroll_)},
                  DecodeTransactionRequest, 9, "transaction-request");
  ExpectRoundTrip(TransactionResponse{.request_id = 3, .proof = ProofOfEnroll(), .pending = false},
                  DecodeTransactionResponse, 10, "transaction-response");
  ExpectRoundTrip(SubscribeRequest{.request_id = 4, .from_height = 1}, DecodeSubscribeRequest, 11,
                  "subscribe-request");
  ExpectRoundTrip(StatusRequest{.request_id = 5}, DecodeStatusRequest, 12, "status-request");
  StatusResponse status;
  status.request_id = 5;
  status.node_name = "peer-1";
  status.chain_id = "vigil-test";
  status.height = 9;
  status.validators = 4;
  status.is_validator = true;
  ExpectRoundTrip(status, DecodeStatusResponse, 13, "status-response");
  ExpectRoundTrip(ErrorResponse{.request_id = 6, .message = "no"}, DecodeErrorResponse, 14,
                  "error-response");
}

TEST_F(MessagesTest, DecodersRefuseOutOfRangeFields) {
  EXPECT_FALSE(DecodeSyncRequest(Encode(SyncRequest{.from_height = 0, .count = 1})));
  EXPECT_FALSE(DecodeSyncRequest(Encode(SyncRequest{.from_height = 1, .count = 0})));
  EXPECT_FALSE(DecodeSyncRequest(Encode(
      SyncRequest{.from_height = 1,
                  .count = static_cast<uint32_t>(limits::kPeerSyncBlocksPerResponse + 1)})));
  EXPECT_FALSE(DecodeSubscribeRequest(Encode(SubscribeRequest{.request_id = 1, .from_height = 0})));
  SubmitResponse response;
  Bytes bad_outcome = Encode(response);
  bad_outcome[8 + 32] = 9;  // after request id and transaction id
  EXPECT_FALSE(DecodeSubmitResponse(bad_outcome));
  Bytes oversize_transaction(limits::kLedgerTransactionBytesMax + 1, 0);
  EXPECT_FALSE(DecodeSubmitRequest(
      Encode(SubmitRequest{.request_id = 1, .transaction = oversize_transaction})));
  EXPECT_FALSE(DecodeFrame(999, Bytes{}));
  EXPECT_EQ(RequestIdOf(kFrameStatusRequest, Encode(StatusRequest{.request_id = 77})), 77u);
  EXPECT_EQ(RequestIdOf(kFramePeerStatus, Encode(PeerStatus{.height = 1})), std::nullopt);
}

TEST_F(MessagesTest, LightClientAcceptsAGenuineProofAndRefusesEachForgery) {
  auto validators = Validators();
  TransactionProof proof = ProofOfEnroll();
  ASSERT_TRUE(VerifyTransactionProof(validators, ledger::testing::kChainId, proof));

  auto refused = [&](TransactionProof forged, std::string_view expected_part) {
    auto status = VerifyTransactionProof(validators, ledger::testing::kChainId, forged);
    ASSERT_FALSE(status.has_value());
    EXPECT_NE(status.error().message().find(expected_part), std::string::npos)
        << status.error().message();
  };
  TransactionProof forged = proof;
  forged.result = ledger::Refuse(ledger::ResultCode::kUnauthorized, "forged");
  refused(forged, "result");
  forged = proof;
  forged.transaction.back() ^= 1;
  refused(forged, "transaction");
  forged = proof;
  forged.header.time_ms += 1;  // another header: the certificate no longer names it
  refused(forged, "");
  forged = proof;
  forged.certificate.signatures.pop_back();
  refused(forged, "");
  forged = proof;
  forged.header.chain_id = "other";
  refused(forged, "chain");
}

TEST_F(MessagesTest, CommittedBlockChecksCertificateTransactionsAndResults) {
  auto validators = Validators();
  CommittedBlock block = BlockOne();
  ASSERT_TRUE(VerifyCommittedBlock(validators, ledger::testing::kChainId, block));
  CommittedBlock wrong_results = block;
  wrong_results.results[0] = ledger::Refuse(ledger::ResultCode::kMalformed, "no");
  EXPECT_FALSE(VerifyCommittedBlock(validators, ledger::testing::kChainId, wrong_results));
  CommittedBlock missing_result = block;
  missing_result.results.clear();
  EXPECT_FALSE(VerifyCommittedBlock(validators, ledger::testing::kChainId, missing_result));
  CommittedBlock wrong_height = block;
  wrong_height.height = 2;
  EXPECT_FALSE(VerifyCommittedBlock(validators, ledger::testing::kChainId, wrong_height));
  EXPECT_FALSE(VerifyCommittedBlock(validators, "other-chain", block));
}

}  // namespace
}  // namespace vigil::api
