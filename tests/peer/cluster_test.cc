// Real peer processes on loopback (`vigil peer`, started as `vigil cluster up` starts them):
// kill -9 of a validator, its restart and catch-up, and a Byzantine validator.
#include "peer/cluster.h"

#include <gtest/gtest.h>

#include <set>

#include <fstream>
#include <thread>

#include "api/client.h"
#include "crypto/crypto.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"
#include "test_support/temporary_directory.h"

namespace vigil::peer {
namespace {

using namespace std::chrono_literals;

class ClusterTest : public ::testing::Test {
 protected:
  void Create(size_t peers) {
    ClusterSpec spec;
    spec.directory = directory_.path() / "cluster";
    spec.peers = peers;
    spec.chain_id = "cluster-test";
    spec.empty_block_interval = 300ms;
    spec.timeout_propose = 600ms;
    auto cluster = CreateCluster(spec);
    ASSERT_TRUE(cluster.has_value()) << cluster.error().message();
    cluster_ = std::move(*cluster);
    auto admin = crypto::ReadPrivateKeyFile(cluster_.admins.front() / "key.pem");
    ASSERT_TRUE(admin.has_value());
    admin_key_ = std::make_unique<crypto::PrivateKey>(std::move(*admin));
    auto genesis = ledger::ReadGenesisFile(cluster_.genesis);
    ASSERT_TRUE(genesis.has_value());
    validators_ = ledger::GenesisValidatorSet(*genesis);
  }

  void TearDown() override {
    for (size_t i = 0; i < cluster_.peers.size(); ++i) (void)StopPeer(cluster_, i, 3000ms);
    // The peers are other processes: a sanitizer report lands in their logs, not here.
    for (const auto& peer : cluster_.peers) {
      std::ifstream log(peer.directory / "peer.log");
      for (std::string line; std::getline(log, line);) {
        if (line.find("AddressSanitizer") != std::string::npos ||
            line.find("LeakSanitizer") != std::string::npos ||
            line.find("runtime error:") != std::string::npos) {
          ADD_FAILURE() << peer.name << ": " << line;
        }
      }
    }
    if (HasFailure()) {
      for (const auto& peer : cluster_.peers) {
        std::string command = "tail -n 30 " + (peer.directory / "peer.log").string();
        (void)std::system(command.c_str());
      }
    }
  }

  void Start(size_t index, std::vector<std::string> extra = {}) {
    auto pid = StartPeer(cluster_, index, VIGIL_BINARY, extra);
    ASSERT_TRUE(pid.has_value()) << pid.error().message();
  }

  // A client of peer `index`, retrying while it starts.
  std::unique_ptr<api::ApiClient> Client(size_t index) {
    auto credentials = pki::LoadNodeDirectory(cluster_.admins.front());
    EXPECT_TRUE(credentials.has_value());
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto client = api::ApiClient::Connect(*credentials, cluster_.peers[index].host,
                                            cluster_.peers[index].port, 2s);
      if (client) return std::move(*client);
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "peer " << index + 1 << " never answered";
    return nullptr;
  }

  Bytes EnrollDevice(uint8_t device_byte, uint64_t sequence) {
    std::array<uint8_t, 32> seed{};
    seed.fill(device_byte);
    auto device = crypto::PrivateKey::FromSeed(seed);
    ledger::EnrollDevice body{.device_key = device->public_key(), .group = "line-1", .labels = {}};
    return ledger::SignTransaction(cluster_.chain_id, body, sequence, *admin_key_);
  }

  void SubmitAndExpectCommitted(api::ApiClient& client, uint64_t sequence) {
    auto response =
        client.Submit(EnrollDevice(static_cast<uint8_t>(sequence), sequence), true, 20s);
    ASSERT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted) << response->result.reason;
    EXPECT_TRUE(response->result.ok()) << response->result.reason;
  }

  uint64_t Height(api::ApiClient& client) {
    auto status = client.Status();
    return status ? status->height : 0;
  }

  // Four peers, the fourth misbehaving on purpose (`vigil peer --test-byzantine MODE`); a
  // client of the first.
  std::unique_ptr<api::ApiClient> StartFourWithOneByzantine(const std::string& mode) {
    Create(4);
    for (size_t i = 0; i < 3; ++i) Start(i);
    Start(3, {"--test-byzantine", mode});
    return Client(0);
  }

  // The peers `others` reach `height` within 10 s with the same blocks as `client`'s.
  void ExpectPeersReachTheSameChain(api::ApiClient& client, std::vector<size_t> others,
                                    uint64_t height) {
    for (size_t index : others) {
      auto other = Client(index);
      ASSERT_NE(other, nullptr);
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while (Height(*other) < height && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
      }
      ExpectSameChain(client, *other, height);
    }
  }

  // Every block up to `height` is the same on both peers, and each verifies as committed.
  void ExpectSameChain(api::ApiClient& one, api::ApiClient& other, uint64_t height) {
    for (uint64_t h = 1; h <= height; ++h) {
      auto mine = one.GetBlock(h);
      auto theirs = other.GetBlock(h);
      ASSERT_TRUE(mine.has_value() && theirs.has_value());
      ASSERT_TRUE(mine->block.has_value() && theirs->block.has_value()) << "height " << h;
      EXPECT_EQ(mine->block->block, theirs->block->block) << "fork at height " << h;
      EXPECT_TRUE(api::VerifyCommittedBlock(validators_, cluster_.chain_id, *theirs->block))
          << "height " << h;
    }
  }

  test_support::TemporaryDirectory directory_;
  Cluster cluster_;
  std::unique_ptr<crypto::PrivateKey> admin_key_;
  consensus::ValidatorSet validators_;
};

TEST_F(ClusterTest, KillNineOfOnePeerDoesNotStopTheOthersAndItCatchesUpOnRestart) {
  Create(4);
  for (size_t i = 0; i < 4; ++i) Start(i);
  auto client = Client(0);
  ASSERT_NE(client, nullptr);
  for (uint64_t sequence = 1; sequence <= 3; ++sequence)
    SubmitAndExpectCommitted(*client, sequence);

  ASSERT_TRUE(StopPeer(cluster_, 1, 0ms, /*kill_now=*/true));
  for (uint64_t sequence = 4; sequence <= 8; ++sequence)
    SubmitAndExpectCommitted(*client, sequence);
  uint64_t target = Height(*client);

  Start(1);
  auto restarted = Client(1);
  ASSERT_NE(restarted, nullptr);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (Height(*restarted) < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(Height(*restarted), target) << "the restarted peer did not catch up";
  ExpectSameChain(*client, *restarted, target);
  // And it takes part again: a transaction submitted to it commits.
  SubmitAndExpectCommitted(*restarted, 9);
}

TEST_F(ClusterTest, AnEquivocatingPeerCausesNoForkAndIsRecordedAsEvidence) {
  auto client = StartFourWithOneByzantine("equivocate");
  ASSERT_NE(client, nullptr);
  for (uint64_t sequence = 1; sequence <= 5; ++sequence)
    SubmitAndExpectCommitted(*client, sequence);
  uint64_t height = Height(*client);
  ExpectPeersReachTheSameChain(*client, {1, 2}, height);
  auto status = client->Status();
  ASSERT_TRUE(status.has_value());
  EXPECT_GT(status->evidence_count, 0u) << "the equivocation went unnoticed";
}

// A proposer that puts a transaction already on the chain into its blocks: the honest
// validators refuse those proposals (the id cannot be stored twice; committing it would halt
// every peer at its store write), the next round's proposer carries on.
TEST_F(ClusterTest, AProposalReplayingACommittedTransactionIsRefusedAndTheChainGoesOn) {
  auto client = StartFourWithOneByzantine("replay-committed");
  ASSERT_NE(client, nullptr);
  for (uint64_t sequence = 1; sequence <= 8; ++sequence)
    SubmitAndExpectCommitted(*client, sequence);
  // Long enough for the Byzantine peer to have proposed (one height in four), with a
  // committed transaction to replay.
  uint64_t height = Height(*client);
  ASSERT_GE(height, 8u);
  ExpectPeersReachTheSameChain(*client, {1, 2}, height);
  // No block holds a transaction twice.
  std::set<ledger::TransactionId> seen;
  for (uint64_t h = 1; h <= height; ++h) {
    auto block = client->GetBlock(h);
    ASSERT_TRUE(block.has_value() && block->block.has_value()) << "height " << h;
    auto decoded = ledger::DecodeBlock(block->block->block);
    ASSERT_TRUE(decoded.has_value());
    for (const Bytes& transaction : decoded->transactions) {
      EXPECT_TRUE(seen.insert(ledger::ComputeTransactionId(transaction)).second)
          << "height " << h << " repeats a transaction";
    }
  }
}

TEST_F(ClusterTest, BadInputsAreRefusedWithAReasonAndNothingIsStored) {
  Create(4);
  for (size_t i = 0; i < 4; ++i) Start(i);
  auto client = Client(2);
  ASSERT_NE(client, nullptr);
  SubmitAndExpectCommitted(*client, 1);
  std::array<uint8_t, 32> seed{};
  seed.fill(77);
  auto device = crypto::PrivateKey::FromSeed(seed);
  ledger::EnrollDevice body{.device_key = device->public_key(), .group = "g", .labels = {}};
  Bytes bad_signature = EnrollDevice(2, 2);
  bad_signature.back() ^= 1;
  struct Case {
    std::string name;
    Bytes transaction;
    ledger::ResultCode code;
  };
  std::vector<Case> cases = {
      {"malformed bytes", Bytes{0xde, 0xad}, ledger::ResultCode::kMalformed},
      {"bad signature", bad_signature, ledger::ResultCode::kBadSignature},
      {"wrong chain id", ledger::SignTransaction("another-chain", body, 2, *admin_key_),
       ledger::ResultCode::kWrongChain},
      {"replayed sequence", EnrollDevice(3, 1), ledger::ResultCode::kBadSequence},
      {"unauthorized signer", ledger::SignTransaction(cluster_.chain_id, body, 1, *device),
       ledger::ResultCode::kUnauthorized},
  };
  for (const auto& bad : cases) {
    auto response = client->Submit(bad.transaction, true, 10s);
    ASSERT_TRUE(response.has_value()) << bad.name << ": " << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kRefused) << bad.name;
    EXPECT_EQ(response->result.code, bad.code) << bad.name << ": " << response->result.reason;
    EXPECT_FALSE(response->result.reason.empty()) << bad.name;
  }
  // Oversize: the peer refuses the request itself and says why.
  auto oversize = client->Submit(Bytes(limits::kLedgerTransactionBytesMax + 1, 1), true, 10s);
  ASSERT_FALSE(oversize.has_value());
  EXPECT_NE(oversize.error().message().find("transaction"), std::string::npos)
      << oversize.error().message();
  // Nothing of it reached any peer's ledger: the next good transaction is sequence 2.
  SubmitAndExpectCommitted(*client, 2);
  for (const auto& bad : cases) {
    auto lookup = client->GetTransaction(ledger::ComputeTransactionId(bad.transaction));
    ASSERT_TRUE(lookup.has_value());
    EXPECT_FALSE(lookup->proof.has_value()) << bad.name << " was stored";
  }
}

}  // namespace
}  // namespace vigil::peer

namespace vigil::peer {
namespace {

std::string ReadLog(const Cluster& cluster, size_t index) {
  std::ifstream log(cluster.peers[index].directory / "peer.log");
  return std::string(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>());
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

// Seed 002's claim with real processes: activate-rules at height N while peer 4 runs a binary
// that only has rules version 1 (--max-rules-version 1). Peer 4 halts before block N with the
// version and height in its message, the other three commit on under version 2, a restart with
// the old binary is refused, and a restart with the new one catches up without divergence.
TEST_F(ClusterTest, RulesActivationHaltsTheOldBinaryAndItResumesWhenUpgraded) {
  Create(4);
  for (size_t i = 0; i < 3; ++i) Start(i);
  Start(3, {"--max-rules-version", "1"});
  auto client = Client(0);
  ASSERT_NE(client, nullptr);
  std::vector<crypto::PrivateKey> admins;
  for (size_t i = 0; i < cluster_.admin_threshold; ++i) {
    auto key = crypto::ReadPrivateKeyFile(cluster_.admins[i] / "key.pem");
    ASSERT_TRUE(key.has_value());
    admins.push_back(std::move(*key));
  }
  std::vector<const crypto::PrivateKey*> co_signers;
  for (size_t i = 1; i < admins.size(); ++i) co_signers.push_back(&admins[i]);

  // The peers report their rules versions on start; until three have, the ledger refuses.
  uint64_t at = 0;
  std::string last_refusal;
  bool accepted = WaitUntil(
      [&] {
        at = Height(*client) + 6;
        Bytes transaction = ledger::SignTransaction(
            cluster_.chain_id, ledger::ActivateRules{.version = 2, .at_height = at},
            /*sequence=*/1, admins.front(), co_signers);
        auto response = client->Submit(transaction, true, 20s);
        if (!response) return false;
        last_refusal = response->result.reason;
        return response->outcome == api::SubmitOutcome::kCommitted && response->result.ok();
      },
      30s);
  ASSERT_TRUE(accepted) << last_refusal;

  // Peer 4 halts before block `at` and exits non-zero; the others go on past it under v2.
  ASSERT_TRUE(WaitUntil([&] { return !RunningPeer(cluster_, 3).has_value(); }, 30s))
      << ReadLog(cluster_, 3);
  std::string log = ReadLog(cluster_, 3);
  EXPECT_NE(log.find("halted before executing block " + std::to_string(at)), std::string::npos)
      << log;
  EXPECT_NE(log.find("executes under rules version 2"), std::string::npos) << log;
  ASSERT_TRUE(WaitUntil([&] { return Height(*client) >= at + 2; }, 30s));
  auto block = client->GetBlock(at);
  ASSERT_TRUE(block.has_value() && block->block.has_value());
  auto decoded = ledger::DecodeBlock(block->block->block);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->header.rules_version, 2u);
  auto before = client->GetBlock(at - 1);
  ASSERT_TRUE(before.has_value() && before->block.has_value());
  EXPECT_EQ(ledger::DecodeBlock(before->block->block)->header.rules_version, 1u);
  SubmitAndExpectCommitted(*client, 2);  // 3 of 4 still commit

  // The old binary again: refuses to start.
  Start(3, {"--max-rules-version", "1"});
  ASSERT_TRUE(WaitUntil([&] { return !RunningPeer(cluster_, 3).has_value(); }, 20s));
  EXPECT_NE(ReadLog(cluster_, 3).find("refusing to start"), std::string::npos)
      << ReadLog(cluster_, 3);

  // Upgraded: it resumes from block `at` and reaches the same chain.
  Start(3);
  auto upgraded = Client(3);
  ASSERT_NE(upgraded, nullptr);
  uint64_t target = Height(*client);
  ASSERT_TRUE(WaitUntil([&] { return Height(*upgraded) >= target; }, 30s));
  ExpectSameChain(*client, *upgraded, target);
}

}  // namespace
}  // namespace vigil::peer
