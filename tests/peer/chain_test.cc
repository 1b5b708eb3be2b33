// Chain: which transactions are already on the chain, so that none is committed twice (a
// transaction id can be stored once; a block repeating one would halt every peer at its write).

#include "peer/chain.h"

#include <gtest/gtest.h>

#include "ledger/test_chain.h"
#include "ledger/block.h"
#include "test_support/temporary_directory.h"

namespace vigil::peer {
namespace {

class ChainTest : public ::testing::Test {
 protected:
  // Commits source_'s block at `height` to `chain` the way a peer does.
  void CommitFromSource(Chain& chain, uint64_t height) {
    const ledger::Block& block = source_.blocks().at(height - 1);
    auto prepared = chain.PrepareCommit(
        block, ledger::EncodeBlock(block),
        source_.CertificateFor(height, ledger::BlockHash(block.header)), std::nullopt, {},
        std::nullopt);
    ASSERT_TRUE(prepared.has_value()) << prepared.error().message();
    ASSERT_TRUE(chain.WriteCommit(*prepared));
    chain.FinishCommit(*prepared);
  }

  ledger::testing::TestChain source_;
  test_support::TemporaryDirectory directory_;
};

TEST_F(ChainTest, KnowsTheTransactionsAlreadyOnTheChainAcrossAReopen) {
  // Block 1: an enrolment (accepted) and a report from a device nobody enrolled (refused by
  // the rules, committed with its refusal: it used no sequence number).
  Bytes accepted = source_.Govern(source_.Enroll(source_.keys().device1));
  ledger::DeviceReport report;
  report.report_kind = ledger::DeviceReportKind::kAppRestarted;
  report.app = "press-controller";
  Bytes refused = source_.Sign(report, source_.keys().outsider);
  ledger::BlockExecution first = source_.Commit({accepted, refused});
  ASSERT_TRUE(first.results[0].ok()) << first.results[0].reason;
  ASSERT_EQ(first.results[1].code, ledger::ResultCode::kUnauthorized);
  const ledger::TransactionId accepted_id = ledger::ComputeTransactionId(accepted);
  const ledger::TransactionId refused_id = ledger::ComputeTransactionId(refused);

  auto expect_known = [&](Chain& chain) {
    EXPECT_TRUE(chain.CommittedWithRefusal(refused_id));
    EXPECT_FALSE(chain.CommittedWithRefusal(accepted_id));  // its used sequence tells
    // A proposal of block 2 repeating either is refused, naming it; a fresh one is not.
    auto check = [&](const std::vector<Bytes>& transactions) {
      ledger::Block forged = source_.ForgeBlock(transactions);
      auto execution = ledger::ExecuteBlock(chain.state(), forged, {});
      EXPECT_TRUE(execution.has_value()) << execution.error().message();
      return chain.CheckNoneCommittedBefore(*execution);
    };
    Status replay = check({accepted});  // executes as a bad sequence: the store is asked
    ASSERT_FALSE(replay.has_value());
    EXPECT_EQ(replay.error().code(), ErrorCode::kAlreadyExists);
    EXPECT_NE(replay.error().message().find(ToHex(accepted_id)), std::string::npos);
    Bytes fresh = source_.Govern(source_.Enroll(source_.keys().device2));
    Status again = check({fresh, refused});  // executes as a refusal again: the set tells
    ASSERT_FALSE(again.has_value());
    EXPECT_NE(again.error().message().find("transaction 1 (id " + ToHex(refused_id)),
              std::string::npos)
        << again.error().message();
    EXPECT_TRUE(check({fresh}).has_value());
  };
  {
    auto chain = Chain::Open(directory_.path(), source_.genesis());
    ASSERT_TRUE(chain.has_value()) << chain.error().message();
    EXPECT_FALSE((*chain)->CommittedWithRefusal(refused_id));
    CommitFromSource(**chain, 1);
    expect_known(**chain);
  }
  auto reopened = Chain::Open(directory_.path(), source_.genesis());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().message();
  expect_known(**reopened);
}

}  // namespace
}  // namespace vigil::peer
