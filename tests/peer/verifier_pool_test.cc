// VerifierPool: admission's stateless check on worker threads, completions back on the loop
// thread in submission order, and only signatures that really verify produce cache entries.

#include "peer/verifier_pool.h"

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <thread>

#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "mempool/signature_cache.h"

namespace vigil::peer {
namespace {

constexpr std::string_view kChainId = "vigil-test";

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return *crypto::PrivateKey::FromSeed(seed);
}

Bytes EnrollTransaction(const crypto::PrivateKey& signer, uint8_t device_byte, uint64_t sequence) {
  ledger::EnrollDevice body{
      .device_key = KeyFromByte(device_byte).public_key(), .group = "line-1", .labels = {}};
  return ledger::SignTransaction(kChainId, body, sequence, signer);
}

TEST(VerifyTransactionTest, AValidTransactionDecodesAndGivesTheCacheEntryTheMempoolWouldCompute) {
  auto admin = KeyFromByte(1);
  Bytes transaction = EnrollTransaction(admin, 7, 1);
  VerifiedTransaction verified = VerifyTransaction(transaction, kChainId);
  ASSERT_TRUE(verified.check.checked.has_value()) << verified.check.checked.error().reason;
  EXPECT_EQ(verified.check.id, ledger::ComputeTransactionId(transaction));
  EXPECT_EQ(verified.check.checked->id, verified.check.id);
  EXPECT_EQ(verified.check.checked->encoded, transaction);
  ASSERT_EQ(verified.entries.size(), 1u);

  auto envelope = ledger::DecodeEnvelope(transaction);
  ASSERT_TRUE(envelope.has_value());
  auto expected = mempool::SignatureCache::EntryOf(envelope->signatures[0].public_key,
                                                   ledger::TransactionSignBytes(*envelope),
                                                   envelope->signatures[0].signature);
  EXPECT_EQ(verified.entries[0], expected);
}

TEST(VerifyTransactionTest, BadBytesAreRefusedWithTheMempoolsReasonAndGiveNoEntry) {
  auto admin = KeyFromByte(1);
  Bytes transaction = EnrollTransaction(admin, 7, 1);
  transaction.back() ^= 0x01;  // the last byte belongs to the signature
  VerifiedTransaction forged = VerifyTransaction(transaction, kChainId);
  ASSERT_FALSE(forged.check.checked.has_value());
  EXPECT_EQ(forged.check.checked.error().code, ledger::ResultCode::kBadSignature);
  EXPECT_EQ(forged.check.id, ledger::ComputeTransactionId(transaction));
  EXPECT_TRUE(forged.entries.empty());

  VerifiedTransaction elsewhere = VerifyTransaction(EnrollTransaction(admin, 7, 1), "other-chain");
  ASSERT_FALSE(elsewhere.check.checked.has_value());
  EXPECT_EQ(elsewhere.check.checked.error().code, ledger::ResultCode::kWrongChain);

  Bytes garbage = {0x01, 0x02, 0x03};
  VerifiedTransaction undecodable = VerifyTransaction(garbage, kChainId);
  ASSERT_FALSE(undecodable.check.checked.has_value());
  EXPECT_EQ(undecodable.check.checked.error().code, ledger::ResultCode::kMalformed);
  EXPECT_TRUE(undecodable.entries.empty());
}

TEST(VerifierPoolTest, CompletionsRunOnTheLoopThreadInSubmissionOrder) {
  asio::io_context loop;
  auto admin = KeyFromByte(1);
  constexpr int kTransactions = 200;
  std::vector<Bytes> submitted;
  for (int i = 0; i < kTransactions; ++i) {
    submitted.push_back(EnrollTransaction(admin, static_cast<uint8_t>(i), i + 1));
    if (i % 3 == 0) submitted.back().back() ^= 0x01;  // every third one has a bad signature
  }

  std::vector<ledger::TransactionId> delivered_ids;
  std::vector<bool> accepted;
  std::vector<size_t> entry_counts;
  std::thread::id loop_thread;
  bool all_on_loop_thread = true;
  {
    VerifierPool pool(loop, 2, std::string(kChainId));
    for (const auto& transaction : submitted) {
      pool.Submit(transaction, [&](VerifiedTransaction verified) {
        all_on_loop_thread &= std::this_thread::get_id() == loop_thread;
        delivered_ids.push_back(verified.check.id);
        accepted.push_back(verified.check.checked.has_value());
        entry_counts.push_back(verified.entries.size());
      });
    }
    EXPECT_EQ(pool.in_flight(), static_cast<size_t>(kTransactions));
    loop_thread = std::this_thread::get_id();
    auto keep_running = asio::make_work_guard(loop);  // the loop is idle until workers post
    while (delivered_ids.size() < submitted.size()) loop.run_one();
    EXPECT_EQ(pool.in_flight(), 0u);
  }

  EXPECT_TRUE(all_on_loop_thread);
  ASSERT_EQ(delivered_ids.size(), submitted.size());
  for (int i = 0; i < kTransactions; ++i) {
    EXPECT_EQ(delivered_ids[i], ledger::ComputeTransactionId(submitted[i])) << "transaction " << i;
    EXPECT_EQ(accepted[i], i % 3 != 0) << "transaction " << i;
    EXPECT_EQ(entry_counts[i], i % 3 == 0 ? 0u : 1u) << "transaction " << i;
  }
}

TEST(VerifierPoolTest, CompletionsAfterThePoolIsGoneAreDropped) {
  asio::io_context loop;
  auto admin = KeyFromByte(1);
  bool called = false;
  {
    VerifierPool pool(loop, 1, std::string(kChainId));
    pool.Submit(EnrollTransaction(admin, 1, 1), [&](VerifiedTransaction) { called = true; });
  }  // the worker has finished (joined) and posted its result to the loop
  loop.run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace vigil::peer
