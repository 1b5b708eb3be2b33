// The gateway's ledger follower: it applies genuine blocks, refuses every forgery a lying peer
// could send, and is left unchanged by a refused block.

#include "gateway/ledger_follower.h"

#include <gtest/gtest.h>

#include "../ledger/test_chain.h"

namespace vigil::gateway {
namespace {

using ledger::testing::TestChain;

class LedgerFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_.Commit({chain_.Govern(chain_.Enroll(chain_.keys().device1))});
    chain_.Commit({chain_.Sign(chain_.Release("press-control", "1.0.0"), chain_.keys().publisher)});
    chain_.Commit({chain_.Govern(ledger::RevokeDevice{
        .device_key = chain_.keys().device1.public_key(), .reason = "stolen"})});
    chain_.Commit({});  // carries block 3's certificate
  }

  // Block `height` as a peer serves it: with the certificate the next block carries.
  api::CommittedBlock Served(uint64_t height) {
    const ledger::Block& block = chain_.blocks()[height - 1];
    api::CommittedBlock committed;
    committed.height = height;
    committed.block = ledger::EncodeBlock(block);
    committed.certificate = *chain_.blocks()[height].last_commit;
    committed.results.assign(block.transactions.size(), ledger::TransactionResult{});
    return committed;
  }

  TestChain chain_;
};

TEST_F(LedgerFollowerTest, FollowsGenuineBlocksToTheSameStateAsTheChain) {
  LedgerFollower follower(chain_.genesis());
  EXPECT_EQ(follower.height(), 0u);

  auto first = follower.Apply(Served(1));
  ASSERT_TRUE(first.has_value()) << first.error().message();
  auto device = ledger::GetDevice(follower.state(), chain_.keys().device1.public_key());
  ASSERT_TRUE(device.has_value());
  EXPECT_EQ(device->status, ledger::DeviceStatus::kEnrolled);

  ASSERT_TRUE(follower.Apply(Served(2)).has_value());
  EXPECT_EQ(ledger::GetLatestVersion(follower.state(), "press-control"), "1.0.0");

  auto third = follower.Apply(Served(3));
  // The chain (which applied one block more) agrees on everything up to block 3.
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->transaction_ids.size(), 1u);
  EXPECT_TRUE(third->committed.results[0].ok());
  device = ledger::GetDevice(follower.state(), chain_.keys().device1.public_key());
  EXPECT_EQ(device->status, ledger::DeviceStatus::kRevoked);

  EXPECT_EQ(follower.state().tip().block_hash, ledger::BlockHash(chain_.blocks()[2].header));
  EXPECT_EQ(follower.state().tip().state_hash, chain_.blocks()[3].header.state_hash);
}

TEST_F(LedgerFollowerTest, RefusesAGapAndStaysWhereItWas) {
  LedgerFollower follower(chain_.genesis());
  auto skipped = follower.Apply(Served(2));
  ASSERT_FALSE(skipped.has_value());
  EXPECT_EQ(skipped.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(skipped.error().message().find("expected block 1"), std::string::npos);
  EXPECT_EQ(follower.height(), 0u);
}

TEST_F(LedgerFollowerTest, RefusesEveryForgeryALyingPeerCouldSend) {
  auto expect_refused = [&](const api::CommittedBlock& forged, const std::string& what) {
    LedgerFollower follower(chain_.genesis());
    auto state_before = follower.state();
    auto applied = follower.Apply(forged);
    ASSERT_FALSE(applied.has_value()) << "accepted " << what;
    EXPECT_NE(applied.error().message().find("block 1"), std::string::npos)
        << applied.error().message();
    EXPECT_EQ(follower.state(), state_before) << what << " changed the state";
  };

  // No certificate (its signatures removed).
  api::CommittedBlock uncertified = Served(1);
  uncertified.certificate.signatures.clear();
  expect_refused(uncertified, "a block without signatures");

  // A result changed from the one the validators signed (the header's results root).
  api::CommittedBlock lied_result = Served(1);
  lied_result.results[0] = ledger::Refuse(ledger::ResultCode::kUnauthorized, "made up");
  expect_refused(lied_result, "altered results");

  // A transaction slipped in: the certificate is for another block.
  api::CommittedBlock extra = Served(1);
  ledger::Block block = chain_.blocks()[0];
  block.transactions.push_back(chain_.Govern(chain_.Enroll(chain_.keys().device2)));
  extra.block = ledger::EncodeBlock(block);
  extra.results.push_back({});
  expect_refused(extra, "an extra transaction");

  // A block a Byzantine proposer built and certified for the wrong state (a correct
  // certificate from the one validator, on a block that does not follow genesis).
  ledger::Block wrong_state = chain_.ForgeBlock({});
  wrong_state.header.height = 1;
  wrong_state.header.state_hash[0] ^= 1;
  wrong_state.last_commit.reset();
  api::CommittedBlock certified_wrong{
      .height = 1,
      .block = ledger::EncodeBlock(wrong_state),
      .certificate = chain_.CertificateFor(1, ledger::BlockHash(wrong_state.header)),
      .results = {}};
  expect_refused(certified_wrong, "a certified block on the wrong state");

  // Garbage bytes.
  api::CommittedBlock garbage = Served(1);
  garbage.block = Bytes{1, 2, 3};
  expect_refused(garbage, "undecodable bytes");
}

}  // namespace
}  // namespace vigil::gateway
