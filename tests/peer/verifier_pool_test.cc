// VerifierPool: signatures verified on worker threads, completions back on the loop thread in
// submission order, and only signatures that really verify produce cache entries.

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

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return *crypto::PrivateKey::FromSeed(seed);
}

Bytes EnrollTransaction(const crypto::PrivateKey& signer, uint8_t device_byte, uint64_t sequence) {
  ledger::EnrollDevice body{
      .device_key = KeyFromByte(device_byte).public_key(), .group = "line-1", .labels = {}};
  return ledger::SignTransaction("vigil-test", body, sequence, signer);
}

TEST(VerifiedSignatureEntriesTest, AValidSignatureGivesTheCacheEntryTheMempoolWouldCompute) {
  auto admin = KeyFromByte(1);
  Bytes transaction = EnrollTransaction(admin, 7, 1);
  auto entries = VerifiedSignatureEntries(transaction);
  ASSERT_EQ(entries.size(), 1u);

  auto envelope = ledger::DecodeEnvelope(transaction);
  ASSERT_TRUE(envelope.has_value());
  auto expected = mempool::SignatureCache::EntryOf(envelope->signatures[0].public_key,
                                                   ledger::TransactionSignBytes(*envelope),
                                                   envelope->signatures[0].signature);
  EXPECT_EQ(entries[0], expected);
}

TEST(VerifiedSignatureEntriesTest, ABadSignatureOrUndecodableBytesGiveNoEntry) {
  auto admin = KeyFromByte(1);
  Bytes transaction = EnrollTransaction(admin, 7, 1);
  transaction.back() ^= 0x01;  // the last byte belongs to the signature
  EXPECT_TRUE(VerifiedSignatureEntries(transaction).empty());

  Bytes garbage = {0x01, 0x02, 0x03};
  EXPECT_TRUE(VerifiedSignatureEntries(garbage).empty());
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

  std::vector<Bytes> delivered;
  std::vector<size_t> entry_counts;
  std::thread::id loop_thread;
  bool all_on_loop_thread = true;
  {
    VerifierPool pool(loop, 2);
    for (const auto& transaction : submitted) {
      pool.Submit(transaction, [&](Bytes verified, std::vector<crypto::Sha256Digest> entries) {
        all_on_loop_thread &= std::this_thread::get_id() == loop_thread;
        delivered.push_back(std::move(verified));
        entry_counts.push_back(entries.size());
      });
    }
    EXPECT_EQ(pool.in_flight(), static_cast<size_t>(kTransactions));
    loop_thread = std::this_thread::get_id();
    auto keep_running = asio::make_work_guard(loop);  // the loop is idle until workers post
    while (delivered.size() < submitted.size()) loop.run_one();
    EXPECT_EQ(pool.in_flight(), 0u);
  }

  EXPECT_TRUE(all_on_loop_thread);
  ASSERT_EQ(delivered, submitted);
  for (int i = 0; i < kTransactions; ++i) {
    EXPECT_EQ(entry_counts[i], i % 3 == 0 ? 0u : 1u) << "transaction " << i;
  }
}

TEST(VerifierPoolTest, CompletionsAfterThePoolIsGoneAreDropped) {
  asio::io_context loop;
  auto admin = KeyFromByte(1);
  bool called = false;
  {
    VerifierPool pool(loop, 1);
    pool.Submit(EnrollTransaction(admin, 1, 1), [&](Bytes, auto) { called = true; });
  }  // the worker has finished (joined) and posted its result to the loop
  loop.run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace vigil::peer
