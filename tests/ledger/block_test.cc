#include "ledger/block.h"

#include <gtest/gtest.h>

#include "ledger/execute.h"
#include "test_chain.h"

namespace vigil::ledger {
namespace {

using testing::TestChain;

// A chain at height 2 with a proposal for height 3 holding a few transactions.
struct Fixture {
  Fixture() {
    const auto& keys = chain.keys();
    chain.Commit({chain.Govern(chain.Enroll(keys.device1))});
    chain.Commit({chain.Sign(chain.Release("press", "1.0.0"), keys.publisher)});
    transactions = {chain.Sign(chain.Release("press", "1.1.0"), keys.publisher),
                    chain.Sign(chain.Release("press", "0.1.0"), keys.publisher),
                    chain.Sign(DeviceReport{.report_kind = DeviceReportKind::kInstalled,
                                            .app = "press",
                                            .version = "1.0.0"},
                               keys.device1)};
    block = chain.ForgeBlock(transactions);
  }
  std::string Refusal(const Block& candidate) {
    auto executed = ExecuteBlock(chain.state(), candidate);
    EXPECT_FALSE(executed.has_value());
    return executed ? "" : executed.error().message();
  }
  TestChain chain;
  std::vector<Bytes> transactions;
  Block block;
};

TEST(BlockTest, EncodingRoundTrips) {
  Fixture fixture;
  Bytes encoded = EncodeBlock(fixture.block);
  Block decoded = DecodeBlock(encoded).value();
  EXPECT_EQ(decoded, fixture.block);
  EXPECT_EQ(EncodeBlock(decoded), encoded);
  EXPECT_TRUE(decoded.last_commit.has_value());
  EXPECT_EQ(DecodeHeader(EncodeHeader(fixture.block.header)).value(), fixture.block.header);
  EXPECT_EQ(BlockHash(decoded.header), crypto::Sha256(EncodeHeader(fixture.block.header)));
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeBlock(trailing).has_value());
  for (size_t size : {size_t{0}, size_t{10}, encoded.size() / 2, encoded.size() - 1}) {
    EXPECT_FALSE(DecodeBlock(ByteSpan(encoded).first(size)).has_value()) << size;
  }
  // The first block has no last commit.
  TestChain fresh;
  Block first = fresh.ForgeBlock({});
  EXPECT_FALSE(first.last_commit.has_value());
  EXPECT_EQ(DecodeBlock(EncodeBlock(first)).value(), first);
}

TEST(BlockTest, TheBlockHashIsReadableFromTheEncodedBlock) {
  Fixture fixture;
  Bytes encoded = EncodeBlock(fixture.block);
  EXPECT_EQ(BlockHashOfEncodedBlock(encoded).value(), BlockHash(fixture.block.header));
  EXPECT_FALSE(BlockHashOfEncodedBlock(ByteSpan(encoded).first(20)).has_value());
}

TEST(BlockTest, AValidBlockExecutes) {
  Fixture fixture;
  BlockExecution execution = ExecuteBlock(fixture.chain.state(), fixture.block).value();
  ASSERT_EQ(execution.results.size(), 3u);
  EXPECT_TRUE(execution.results[0].ok());
  EXPECT_EQ(execution.results[1].code, ResultCode::kNotNewer);
  EXPECT_TRUE(execution.results[2].ok());
  EXPECT_EQ(execution.tip.height, 3u);
  EXPECT_EQ(execution.tip.block_hash, BlockHash(fixture.block.header));
  EXPECT_TRUE(ValidateBlock(fixture.chain.state(), fixture.block).has_value());
}

TEST(BlockTest, ValidateRefusesHeaderFieldsInconsistentWithTheParent) {
  Fixture fixture;
  auto mutated = [&](auto change) {
    Block block = fixture.block;
    change(block);
    return fixture.Refusal(block);
  };
  EXPECT_NE(mutated([](Block& b) { b.header.height = 4; }).find("the next height is 3"),
            std::string::npos);
  EXPECT_NE(mutated([](Block& b) { b.header.chain_id = "other"; }).find("chain id"),
            std::string::npos);
  EXPECT_NE(
      mutated([](Block& b) { b.header.previous_block_hash[0] ^= 1; }).find("previous block hash"),
      std::string::npos);
  EXPECT_NE(mutated([&](Block& b) {
              b.header.time_ms = fixture.chain.state().tip().time_ms;
            }).find("is not after"),
            std::string::npos);
  EXPECT_NE(mutated([](Block& b) { b.header.state_hash[0] ^= 1; }).find("state hash"),
            std::string::npos);
  EXPECT_NE(mutated([](Block& b) { b.header.transactions_root[0] ^= 1; }).find("transactions root"),
            std::string::npos);
  EXPECT_NE(mutated([](Block& b) { b.header.results_root[0] ^= 1; }).find("results root"),
            std::string::npos);
  EXPECT_NE(mutated([](Block& b) { b.header.rules_version = 2; }).find("rules version"),
            std::string::npos);
  EXPECT_NE(mutated([&](Block& b) {
              b.header.proposer = fixture.chain.keys().outsider.public_key();
            }).find("not a validator"),
            std::string::npos);
}

TEST(BlockTest, ValidateRefusesBadTransactionLists) {
  Fixture fixture;
  // Reordering changes the transactions root; a consistent reordering changes the results.
  Block swapped = fixture.chain.ForgeBlock({fixture.transactions[1], fixture.transactions[0]});
  swapped.header.results_root = fixture.block.header.results_root;
  EXPECT_NE(fixture.Refusal(swapped).find("results root"), std::string::npos);
  // A duplicate transaction.
  Block duplicate = fixture.chain.ForgeBlock({fixture.transactions[0]});
  duplicate.transactions.push_back(fixture.transactions[0]);
  duplicate.header.transactions_root = TransactionsRoot(duplicate.transactions);
  EXPECT_NE(fixture.Refusal(duplicate).find("repeats"), std::string::npos);
  // A transaction for another chain.
  Block wrong_chain = fixture.block;
  wrong_chain.transactions[0] = SignTransaction(
      "other-chain", fixture.chain.Release("press", "3.0.0"), 3, fixture.chain.keys().publisher);
  wrong_chain.header.transactions_root = TransactionsRoot(wrong_chain.transactions);
  EXPECT_NE(fixture.Refusal(wrong_chain).find("cannot be included"), std::string::npos);
}

TEST(BlockTest, ValidateChecksTheLastCommit) {
  Fixture fixture;
  Block missing = fixture.block;
  missing.last_commit.reset();
  EXPECT_NE(fixture.Refusal(missing).find("is missing"), std::string::npos);
  Block wrong_value = fixture.block;
  wrong_value.last_commit = fixture.chain.CertificateFor(2, crypto::Sha256(AsBytes("other")));
  EXPECT_FALSE(ExecuteBlock(fixture.chain.state(), wrong_value).has_value());
  Block wrong_height = fixture.block;
  wrong_height.last_commit =
      fixture.chain.CertificateFor(1, fixture.chain.state().tip().block_hash);
  EXPECT_FALSE(ExecuteBlock(fixture.chain.state(), wrong_height).has_value());
  Block forged_signature = fixture.block;
  forged_signature.last_commit->signatures[0].signature[0] ^= 1;
  EXPECT_FALSE(ExecuteBlock(fixture.chain.state(), forged_signature).has_value());
  // The first block must not carry one.
  TestChain fresh;
  Block first = fresh.ForgeBlock({});
  first.last_commit = fresh.CertificateFor(0, fresh.state().tip().block_hash);
  auto executed = ExecuteBlock(fresh.state(), first);
  ASSERT_FALSE(executed.has_value());
  EXPECT_NE(executed.error().message().find("first block"), std::string::npos);
}

TEST(BlockTest, TheFirstBlockNamesTheGenesisHash) {
  TestChain chain;
  Block first = chain.ForgeBlock({});
  EXPECT_EQ(first.header.previous_block_hash, GenesisHash(chain.genesis()));
  EXPECT_EQ(first.header.state_hash, chain.state().tip().state_hash);
  EXPECT_TRUE(ExecuteBlock(chain.state(), first).has_value());
}

TEST(BlockTest, BuildBlockProducesWhatExecuteBlockAccepts) {
  Fixture fixture;
  std::vector<Bytes> candidates = fixture.transactions;
  candidates.push_back(Bytes{1, 2, 3});  // garbage: dropped
  BuildOptions options{.time_ms = fixture.chain.NextTimeMs(),
                       .proposer = fixture.chain.keys().validator.public_key(),
                       .last_commit = fixture.block.last_commit,
                       .execute = {}};
  BuiltBlock built = BuildBlock(fixture.chain.state(), candidates, options).value();
  EXPECT_EQ(built.block, fixture.block);
  ASSERT_EQ(built.dropped.size(), 1u);
  EXPECT_EQ(built.dropped[0].result.code, ResultCode::kMalformed);
  BlockExecution executed = ExecuteBlock(fixture.chain.state(), built.block).value();
  EXPECT_EQ(executed.tip, built.execution.tip);
  EXPECT_EQ(executed.results, built.execution.results);
  // The proposer's own inputs are checked too.
  options.time_ms = 0;
  EXPECT_FALSE(BuildBlock(fixture.chain.state(), candidates, options).has_value());
}

TEST(BlockTest, ALightClientVerifiesATransactionAndItsResultFromOneHeader) {
  Fixture fixture;
  BlockExecution execution = ExecuteBlock(fixture.chain.state(), fixture.block).value();
  const BlockHeader& header = fixture.block.header;
  merkle::Tree transactions = merkle::Tree::FromLeaves(fixture.block.transactions);
  std::vector<Bytes> result_leaves;
  for (size_t i = 0; i < execution.results.size(); ++i) {
    result_leaves.push_back(EncodeResultLeaf(execution.transaction_ids[i], execution.results[i]));
  }
  merkle::Tree results = merkle::Tree::FromLeaves(result_leaves);
  // The header is committed by the next block's last commit.
  consensus::CommitCertificate certificate =
      fixture.chain.CertificateFor(header.height, BlockHash(header));
  ASSERT_TRUE(
      VerifyHeaderCommitted(fixture.chain.validator_set(), header, certificate).has_value());
  for (uint64_t i = 0; i < fixture.block.transactions.size(); ++i) {
    merkle::InclusionProof proof = transactions.ProveInclusion(i).value();
    EXPECT_TRUE(
        VerifyTransactionInclusion(fixture.block.transactions[i], proof, header).has_value());
    merkle::InclusionProof result_proof = results.ProveInclusion(i).value();
    EXPECT_TRUE(VerifyResultInclusion(execution.transaction_ids[i], execution.results[i],
                                      result_proof, header)
                    .has_value());
    // A different result (claiming success for the refused one) does not verify.
    TransactionResult lie{};
    if (execution.results[i].ok()) lie = Refuse(ResultCode::kNotNewer, "lie");
    EXPECT_FALSE(
        VerifyResultInclusion(execution.transaction_ids[i], lie, result_proof, header).has_value());
  }
  merkle::InclusionProof proof = transactions.ProveInclusion(0).value();
  EXPECT_FALSE(VerifyTransactionInclusion(fixture.transactions[1], proof, header).has_value());
  BlockHeader tampered = header;
  tampered.time_ms += 1;
  EXPECT_FALSE(
      VerifyHeaderCommitted(fixture.chain.validator_set(), tampered, certificate).has_value());
}

// What `vigil audit` does: from the genesis file alone, re-execute every stored block; each
// header's state hash must match the re-executed state before it, and the end state must be
// identical to the live one.
TEST(BlockTest, ReplayingTheChainFromGenesisReachesTheSameState) {
  Fixture fixture;
  fixture.chain.Commit(fixture.transactions);
  fixture.chain.Commit({});
  State replayed = GenesisState(fixture.chain.genesis());
  for (const Block& block : fixture.chain.blocks()) {
    Block decoded = DecodeBlock(EncodeBlock(block)).value();  // as read back from storage
    auto execution = ExecuteBlock(replayed, decoded);
    ASSERT_TRUE(execution.has_value()) << execution.error().ToString();
    ApplyBlock(replayed, *execution);
  }
  EXPECT_EQ(replayed, fixture.chain.state());
  EXPECT_EQ(replayed.ComputeDigest(), fixture.chain.state().ComputeDigest());
  // A tampered stored block is caught at that block.
  std::vector<Block> blocks = fixture.chain.blocks();
  blocks[1].transactions[0] = blocks[2].transactions[0];
  State audited = GenesisState(fixture.chain.genesis());
  ApplyBlock(audited, ExecuteBlock(audited, blocks[0]).value());
  EXPECT_FALSE(ExecuteBlock(audited, blocks[1]).has_value());
}

TEST(BlockTest, AMissingRulesVersionHaltsInsteadOfGuessing) {
  // A state whose rules record schedules version 99 from height 1: this peer lacks it.
  TestChain chain;
  State state = chain.state();
  Overlay overlay(&state);
  PutRules(overlay, RulesRecord{.version = 1, .next_version = 99, .next_height = 1});
  State scheduled;
  // Rebuild a state with the scheduled switch applied at genesis.
  WriteSet writes;
  for (const auto& [key, value] : state.entries()) writes[key] = value;
  for (const auto& [key, value] : overlay.writes()) writes[key] = value;
  scheduled.Apply(writes, state.tip());
  Block block = chain.ForgeBlock({});
  block.header.rules_version = 99;
  auto executed = ExecuteBlock(scheduled, block);
  ASSERT_FALSE(executed.has_value());
  EXPECT_EQ(executed.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(executed.error().message().find("halt"), std::string::npos);
}

}  // namespace
}  // namespace vigil::ledger
