#include "ledger/state.h"

#include <gtest/gtest.h>

#include "test_chain.h"

namespace vigil::ledger {
namespace {

TEST(StateTest, OverlaysReadThroughAndDiscardOrMerge) {
  testing::TestChain chain;
  const State& state = chain.state();
  PublicKey device = chain.keys().device1.public_key();
  Overlay block(&state);
  {
    Overlay transaction(&block);
    PutSequence(transaction, device, 5);
    EXPECT_EQ(GetSequence(transaction, device), 5u);
    EXPECT_EQ(GetSequence(block, device), 0u);
    // Dropped without merging: the block sees nothing.
  }
  EXPECT_TRUE(block.writes().empty());
  PutSequence(block, chain.keys().device2.public_key(), 1);
  Overlay transaction(&block);
  PutSequence(transaction, device, 6);
  ErasePublisher(transaction, chain.keys().publisher.public_key());
  // A child holds only its own writes (not a copy of its parent's), so a block of n
  // transactions costs O(n), not O(n^2).
  EXPECT_EQ(transaction.writes().size(), 2u);
  EXPECT_FALSE(GetPublisher(transaction, chain.keys().publisher.public_key()).has_value());
  EXPECT_TRUE(GetPublisher(block, chain.keys().publisher.public_key()).has_value());
  std::move(transaction).MergeInto(block);
  EXPECT_EQ(GetSequence(block, device), 6u);
  EXPECT_FALSE(GetPublisher(block, chain.keys().publisher.public_key()).has_value());
  // The committed state is untouched until Apply.
  EXPECT_EQ(GetSequence(state, device), 0u);
  EXPECT_EQ(block.writes().size(), 3u);
}

TEST(StateTest, ApplyWritesAndDeletesAndMovesTheTip) {
  testing::TestChain chain;
  State state = chain.state();
  PublicKey publisher = chain.keys().publisher.public_key();
  Overlay overlay(&state);
  ErasePublisher(overlay, publisher);
  PutLatestVersion(overlay, "press", "1.0.0");
  WriteSet writes = std::move(overlay).TakeWrites();
  ChainTip tip{.height = 1,
               .block_hash = {},
               .state_hash = NextStateHash(state.tip().state_hash, writes),
               .time_ms = 5};
  state.Apply(writes, tip);
  EXPECT_FALSE(GetPublisher(state, publisher).has_value());
  EXPECT_EQ(GetLatestVersion(state, "press"), "1.0.0");
  EXPECT_EQ(state.tip(), tip);
  EXPECT_NE(state.ComputeDigest(), chain.state().ComputeDigest());
}

TEST(StateTest, WriteSetEncodingIsCanonicalAndOrderIndependent) {
  WriteSet first;
  first[Bytes{2, 1}] = Bytes{9};
  first[Bytes{1}] = std::nullopt;
  WriteSet second;
  second[Bytes{1}] = std::nullopt;
  second[Bytes{2, 1}] = Bytes{9};
  EXPECT_EQ(EncodeWriteSet(first), EncodeWriteSet(second));
  EXPECT_EQ(EncodeWriteSet(first), (Bytes{2,
                                          0,
                                          0,
                                          0,
                                          /*key*/ 1,
                                          0,
                                          0,
                                          0,
                                          1,
                                          /*absent*/ 0,
                                          /*key*/ 2,
                                          0,
                                          0,
                                          0,
                                          2,
                                          1,
                                          /*present*/ 1,
                                          1,
                                          0,
                                          0,
                                          0,
                                          9}));
  // A deletion and an empty value are different writes.
  WriteSet empty_value;
  empty_value[Bytes{1}] = Bytes{};
  EXPECT_NE(NextStateHash({}, empty_value), NextStateHash({}, {{Bytes{1}, std::nullopt}}));
}

TEST(StateTest, GenesisStateHoldsTheGenesisTables) {
  testing::TestChain chain;
  const State& state = chain.state();
  EXPECT_EQ(state.chain_id(), testing::kChainId);
  EXPECT_EQ(state.tip().height, 0u);
  EXPECT_EQ(state.tip().time_ms, testing::kGenesisTimeMs);
  EXPECT_EQ(GetAdminThreshold(state), 2u);
  EXPECT_EQ(ListAdmins(state).size(), 3u);
  EXPECT_EQ(GetAdminName(state, chain.keys().admin2.public_key()), "bob");
  auto validators = ListValidators(state);
  ASSERT_EQ(validators.size(), 1u);
  EXPECT_EQ(validators[0].second.address, "127.0.0.1:7100");
  EXPECT_EQ(GetRules(state).version, 1u);
  EXPECT_EQ(GetCaCertificatePem(state), testing::TestCaPem());
  EXPECT_EQ(GetPublisher(state, chain.keys().publisher.public_key())->name, "release-bot");
}

TEST(StateTest, ListingsDecodeTheirTables) {
  testing::TestChain chain;
  const auto& keys = chain.keys();
  chain.Commit({chain.Govern(chain.Enroll(keys.device1)),
                chain.Sign(chain.Release("welder", "1.0.0"), keys.publisher)});
  chain.Commit({chain.Govern(chain.Enroll(keys.device2, "welders")),
                chain.Sign(chain.Release("press", "1.0.0"), keys.publisher),
                chain.Sign(chain.Release("press", "1.1.0"), keys.publisher)});
  auto devices = ListDevices(chain.state());
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_LT(devices[0].first, devices[1].first);
  auto publishers = ListPublishers(chain.state());
  ASSERT_EQ(publishers.size(), 1u);
  EXPECT_EQ(publishers[0].second.name, "release-bot");
  auto press = ListReleases(chain.state(), "press");
  ASSERT_EQ(press.size(), 2u);
  EXPECT_EQ(press[0].version, "1.0.0");
  EXPECT_EQ(press[1].version, "1.1.0");
  EXPECT_EQ(press[1].record.height, 2u);
  EXPECT_EQ(ListReleases(chain.state(), std::nullopt).size(), 3u);
  EXPECT_TRUE(ListReleases(chain.state(), "pres").empty());
}

}  // namespace
}  // namespace vigil::ledger
