// PeerNode in-process: real stores, real TLS sessions on loopback, real consensus; one
// io_context thread runs every peer of the test, the test thread is their client.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <functional>
#include <future>
#include <thread>

#include "api/client.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "peer/config.h"
#include "peer/node.h"
#include "test_support/temporary_directory.h"

namespace vigil::peer {
namespace {

using namespace std::chrono_literals;

class PeerTest : public ::testing::Test {
 protected:
  void CreatePeers(size_t count) {
    spdlog::set_level(spdlog::level::warn);
    ClusterSpec spec;
    spec.directory = directory_.path() / "cluster";
    spec.peers = count;
    spec.chain_id = "peer-test";
    spec.empty_block_interval = 200ms;
    spec.timeout_propose = 500ms;
    spec.durable = false;  // tests: survive kill, not power loss
    auto cluster = CreateCluster(spec);
    ASSERT_TRUE(cluster.has_value()) << cluster.error().message();
    cluster_ = std::move(*cluster);
    nodes_.resize(count);
    auto admin = crypto::ReadPrivateKeyFile(cluster_.admins.front() / "key.pem");
    ASSERT_TRUE(admin.has_value());
    admin_key_ = std::make_unique<crypto::PrivateKey>(std::move(*admin));
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_context_);
      io_context_.run();
    });
  }

  void TearDown() override {
    for (size_t i = 0; i < nodes_.size(); ++i) StopNode(i);
    io_context_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `work` on the peers' thread and waits for it.
  template <typename Work>
  auto OnPeerThread(Work work) {
    std::packaged_task<decltype(work())()> task(std::move(work));
    auto result = task.get_future();
    asio::post(io_context_, [&task] { task(); });
    return result.get();
  }

  void StartNode(size_t index, std::function<Status(store::CommitPoint)> store_fault_hook = {}) {
    auto options = LoadPeerConfig(cluster_.peers[index].config);
    ASSERT_TRUE(options.has_value()) << options.error().message();
    options->store_fault_hook = std::move(store_fault_hook);
    auto started = OnPeerThread([&]() -> Status {
      auto node = PeerNode::Start(io_context_, std::move(*options));
      if (!node) return std::unexpected(node.error());
      nodes_[index] = std::move(*node);
      return Ok();
    });
    ASSERT_TRUE(started.has_value()) << started.error().message();
  }

  void StopNode(size_t index) {
    OnPeerThread([&] {
      if (nodes_[index]) nodes_[index]->Stop();
      nodes_[index].reset();
      return 0;
    });
  }

  std::unique_ptr<api::ApiClient> Client(size_t index) {
    auto credentials = pki::LoadNodeDirectory(cluster_.admins.front());
    EXPECT_TRUE(credentials.has_value());
    auto client = api::ApiClient::Connect(*credentials, cluster_.peers[index].host,
                                          cluster_.peers[index].port, 5s);
    EXPECT_TRUE(client.has_value()) << client.error().message();
    return client ? std::move(*client) : nullptr;
  }

  Bytes EnrollDevice(uint8_t device_byte, uint64_t sequence) {
    std::array<uint8_t, 32> seed{};
    seed.fill(device_byte);
    auto device = crypto::PrivateKey::FromSeed(seed);
    ledger::EnrollDevice body{.device_key = device->public_key(), .group = "line-1", .labels = {}};
    return ledger::SignTransaction(cluster_.chain_id, body, sequence, *admin_key_);
  }

  uint64_t HeightOf(size_t index) {
    return OnPeerThread([&] { return nodes_[index] ? nodes_[index]->height() : 0; });
  }

  bool WaitForHeight(size_t index, uint64_t height, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (HeightOf(index) >= height) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  test_support::TemporaryDirectory directory_;
  Cluster cluster_;
  asio::io_context io_context_;
  std::thread thread_;
  std::vector<std::unique_ptr<PeerNode>> nodes_;
  std::unique_ptr<crypto::PrivateKey> admin_key_;
};

TEST_F(PeerTest, SinglePeerCommitsASubmittedTransactionAndProvesIt) {
  CreatePeers(1);
  StartNode(0);
  auto client = Client(0);
  ASSERT_NE(client, nullptr);
  Bytes transaction = EnrollDevice(1, 1);
  auto response = client->Submit(transaction, true);
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted) << response->result.reason;
  EXPECT_TRUE(response->result.ok()) << response->result.reason;
  EXPECT_GE(response->height, 1u);

  auto proof = client->GetTransaction(response->transaction_id);
  ASSERT_TRUE(proof.has_value()) << proof.error().message();
  ASSERT_TRUE(proof->proof.has_value());
  auto genesis = ledger::ReadGenesisFile(cluster_.genesis);
  ASSERT_TRUE(genesis.has_value());
  auto validators = ledger::GenesisValidatorSet(*genesis);
  EXPECT_TRUE(api::VerifyTransactionProof(validators, cluster_.chain_id, *proof->proof));
  // A proof whose result was changed does not verify.
  auto forged = *proof->proof;
  forged.result = ledger::Refuse(ledger::ResultCode::kUnauthorized, "forged");
  EXPECT_FALSE(api::VerifyTransactionProof(validators, cluster_.chain_id, forged));

  // Submitting it again answers from the ledger: committed once, at the same place.
  auto again = client->Submit(transaction, true);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->outcome, api::SubmitOutcome::kCommitted);
  EXPECT_EQ(again->height, response->height);
}

// A lone validator proposes, prevotes, precommits and decides in one step: the consensus
// write-ahead record of that step goes into the block's store transaction (one sync per block,
// not two), and after a restart the node goes on from the stored record and blocks.
TEST_F(PeerTest, ADecidingStepWritesItsConsensusRecordWithTheBlock) {
  CreatePeers(1);
  StartNode(0);
  ASSERT_TRUE(WaitForHeight(0, 3));
  PeerCounters counters = OnPeerThread([&] { return nodes_[0]->counters(); });
  EXPECT_GE(counters.consensus_states_with_block, 3u);
  EXPECT_EQ(counters.consensus_states_with_block, counters.blocks_committed);
  EXPECT_EQ(counters.consensus_states_saved, 0u);
  uint64_t stopped_at = HeightOf(0);
  StopNode(0);

  StartNode(0);
  EXPECT_GE(HeightOf(0), stopped_at);
  EXPECT_TRUE(WaitForHeight(0, stopped_at + 2));
}

// The store write of a decided block runs on the store thread: while it is held (here by the
// store's fault hook, standing for a slow disk) the event loop still answers, the chain stays
// at the previous block, and it moves on once the write returns. A write that fails halts the
// node with the chain intact, and a restart goes on from the store.
TEST_F(PeerTest, TheEventLoopGoesOnWhileABlockIsWrittenAndAFailedWriteHalts) {
  CreatePeers(1);
  std::atomic<bool> hold_next{false};
  std::atomic<bool> fail_next{false};
  std::promise<void> held;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StartNode(0, [&, released](store::CommitPoint point) -> Status {
    if (point != store::CommitPoint::kBeforeTransactionCommit) return Ok();
    if (fail_next.exchange(false)) return Fail(ErrorCode::kIOError, "test: the disk is gone");
    if (hold_next.exchange(false)) {
      held.set_value();
      released.wait();
    }
    return Ok();
  });
  ASSERT_TRUE(WaitForHeight(0, 2));

  hold_next = true;
  ASSERT_EQ(held.get_future().wait_for(10s), std::future_status::ready);
  // The loop answers while the write is held (it would not if the write ran on it).
  std::packaged_task<uint64_t()> read_height([&] { return nodes_[0]->height(); });
  auto height_while_held = read_height.get_future();
  asio::post(io_context_, [&read_height] { read_height(); });
  bool answered = height_while_held.wait_for(2s) == std::future_status::ready;
  release.set_value();
  uint64_t held_at = height_while_held.get();  // (waits for a blocked loop to come back)
  ASSERT_TRUE(answered) << "the event loop was blocked by the block write";
  EXPECT_TRUE(WaitForHeight(0, held_at + 2));

  fail_next = true;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool halted = false;
  uint64_t halted_at = 0;
  while (!halted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    std::tie(halted, halted_at) = OnPeerThread([&] {
      return std::make_pair(nodes_[0]->fatal_error().has_value(), nodes_[0]->height());
    });
  }
  ASSERT_TRUE(halted);
  std::string error = OnPeerThread([&] { return nodes_[0]->fatal_error()->message(); });
  EXPECT_NE(error.find("cannot commit the decided block " + std::to_string(halted_at + 1)),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("the disk is gone"), std::string::npos) << error;
  StopNode(0);
  StartNode(0);
  EXPECT_EQ(HeightOf(0), halted_at);
  EXPECT_TRUE(WaitForHeight(0, halted_at + 2));
}

TEST_F(PeerTest, BadInputsAreRefusedWithAReasonAndNothingIsStored) {
  CreatePeers(1);
  StartNode(0);
  auto client = Client(0);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Submit(EnrollDevice(1, 1), true).has_value());

  auto expect_refused = [&](const Bytes& transaction, ledger::ResultCode code,
                            std::string_view reason_part) {
    auto response = client->Submit(transaction, true);
    ASSERT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kRefused);
    EXPECT_EQ(response->result.code, code) << response->result.reason;
    EXPECT_NE(response->result.reason.find(reason_part), std::string::npos)
        << response->result.reason;
    auto lookup = client->GetTransaction(ledger::ComputeTransactionId(transaction));
    ASSERT_TRUE(lookup.has_value());
    EXPECT_FALSE(lookup->proof.has_value());
    EXPECT_FALSE(lookup->pending);
  };
  expect_refused(Bytes{1, 2, 3}, ledger::ResultCode::kMalformed, "");
  Bytes bad_signature = EnrollDevice(2, 2);
  bad_signature[bad_signature.size() - 1] ^= 1;
  expect_refused(bad_signature, ledger::ResultCode::kBadSignature, "");
  std::array<uint8_t, 32> seed{};
  seed.fill(9);
  auto device = crypto::PrivateKey::FromSeed(seed);
  Bytes wrong_chain = ledger::SignTransaction(
      "another-chain", ledger::EnrollDevice{.device_key = device->public_key(), .group = "g", .labels = {}}, 2,
      *admin_key_);
  expect_refused(wrong_chain, ledger::ResultCode::kWrongChain, "another-chain");
  expect_refused(EnrollDevice(3, 1), ledger::ResultCode::kBadSequence, "");  // replayed
  Bytes oversize(limits::kLedgerTransactionBytesMax + 1, 0);
  auto response = client->Submit(oversize, true);
  // Oversize is refused by the request decoder before the mempool sees it.
  EXPECT_FALSE(response.has_value());

  auto status = client->Status();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->mempool_transactions, 0u);
}

TEST_F(PeerTest, FourPeersCommitAndARestartedPeerCatchesUp) {
  CreatePeers(4);
  for (size_t i = 0; i < 4; ++i) StartNode(i);
  auto client = Client(0);
  ASSERT_NE(client, nullptr);
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    auto response = client->Submit(EnrollDevice(static_cast<uint8_t>(sequence), sequence), true);
    ASSERT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted) << response->result.reason;
  }
  // One peer stops; three of four keep committing.
  StopNode(3);
  uint64_t stopped_at = HeightOf(0);
  for (uint64_t sequence = 4; sequence <= 6; ++sequence) {
    auto response = client->Submit(EnrollDevice(static_cast<uint8_t>(sequence), sequence), true);
    ASSERT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted);
  }
  uint64_t target = HeightOf(0);
  EXPECT_GT(target, stopped_at);
  // Restarted from its store, it syncs the blocks it missed and agrees on every hash.
  StartNode(3);
  ASSERT_TRUE(WaitForHeight(3, target));
  auto restarted = Client(3);
  ASSERT_NE(restarted, nullptr);
  for (uint64_t height = 1; height <= target; ++height) {
    auto mine = client->GetBlock(height);
    auto theirs = restarted->GetBlock(height);
    ASSERT_TRUE(mine.has_value() && theirs.has_value());
    ASSERT_TRUE(mine->block.has_value() && theirs->block.has_value()) << "height " << height;
    EXPECT_EQ(mine->block->block, theirs->block->block) << "height " << height;
  }
}

}  // namespace
}  // namespace vigil::peer
