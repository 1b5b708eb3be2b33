#include "mempool/signature_cache.h"

#include <gtest/gtest.h>

#include "ledger/test_chain.h"

namespace vigil::mempool {
namespace {

using ledger::testing::KeyFromByte;

struct Signed {
  crypto::PublicKey key;
  Bytes message;
  crypto::Signature signature;
};

Signed SignText(uint8_t key_byte, std::string_view text) {
  crypto::PrivateKey key = KeyFromByte(key_byte);
  Bytes message = ToBytes(text);
  return {key.public_key(), message, key.Sign(message)};
}

TEST(SignatureCacheTest, VerifiesOnAMissAndRemembersTheSuccess) {
  SignatureCache cache;
  Signed item = SignText(1, "report 1");
  EXPECT_TRUE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_TRUE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SignatureCacheTest, NeverRemembersAFailure) {
  SignatureCache cache;
  Signed item = SignText(1, "report 1");
  item.signature[5] ^= 0x01;
  EXPECT_FALSE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_FALSE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.misses(), 2u);  // verified (and refused) both times
  EXPECT_EQ(cache.hits(), 0u);
}

TEST(SignatureCacheTest, AHitNeedsTheSameKeyMessageAndSignature) {
  SignatureCache cache;
  Signed item = SignText(1, "report 1");
  ASSERT_TRUE(cache.Verify(item.key, item.message, item.signature));
  // The cached signature with another message, or claimed by another key, is still checked.
  EXPECT_FALSE(cache.Verify(item.key, ToBytes("report 2"), item.signature));
  EXPECT_FALSE(cache.Verify(KeyFromByte(2).public_key(), item.message, item.signature));
  Signed other = SignText(1, "report 2");
  EXPECT_FALSE(cache.Verify(item.key, item.message, other.signature));
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.misses(), 4u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SignatureCacheTest, ForgetsTheOldestAtItsBound) {
  SignatureCache cache(2);
  Signed first = SignText(1, "first");
  Signed second = SignText(1, "second");
  Signed third = SignText(1, "third");
  ASSERT_TRUE(cache.Verify(first.key, first.message, first.signature));
  ASSERT_TRUE(cache.Verify(second.key, second.message, second.signature));
  ASSERT_TRUE(cache.Verify(third.key, third.message, third.signature));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.misses(), 3u);
  // `first` was forgotten: verifying it again is a miss (which evicts `second`).
  EXPECT_TRUE(cache.Verify(first.key, first.message, first.signature));
  EXPECT_EQ(cache.misses(), 4u);
  EXPECT_TRUE(cache.Verify(third.key, third.message, third.signature));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_TRUE(cache.Verify(second.key, second.message, second.signature));
  EXPECT_EQ(cache.misses(), 5u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(SignatureCacheTest, ZeroEntriesRemembersNothing) {
  SignatureCache cache(0);
  Signed item = SignText(1, "report 1");
  EXPECT_TRUE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_TRUE(cache.Verify(item.key, item.message, item.signature));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.misses(), 2u);
}

TEST(SignatureCacheTest, AsVerifyFunctionGoesThroughTheCache) {
  SignatureCache cache;
  ledger::VerifyFunction verify = cache.AsVerifyFunction();
  Signed item = SignText(1, "report 1");
  EXPECT_TRUE(verify(item.key, item.message, item.signature));
  EXPECT_TRUE(verify(item.key, item.message, item.signature));
  EXPECT_FALSE(verify(item.key, ToBytes("forged"), item.signature));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
}

}  // namespace
}  // namespace vigil::mempool
