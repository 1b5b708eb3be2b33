#include "artifacts/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/file.h"
#include "test_support/temporary_directory.h"

namespace vigil::artifacts {
namespace {

Bytes Pattern(size_t size, uint8_t seed) {
  Bytes bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 31 + seed);
  return bytes;
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ArtifactStore> Open(ArtifactStoreOptions options = {}) {
    options.directory = directory_.path() / "store";
    auto store = ArtifactStore::Open(std::move(options));
    EXPECT_TRUE(store.has_value()) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  test_support::TemporaryDirectory directory_{"vigil-artifact-store"};
};

TEST_F(ArtifactStoreTest, ChunksCommitOnlyWhenCompleteAndMatching) {
  auto store = Open();
  Bytes bytes = Pattern(1000, 1);
  auto digest = crypto::Sha256(bytes);
  {
    auto session = store->BeginUpload(digest, bytes.size(), 0);
    ASSERT_TRUE(session.has_value()) << session.error().message();
    ASSERT_TRUE((*session)->Append(ByteSpan(bytes).first(400)).has_value());
    EXPECT_FALSE((*session)->complete());
  }
  EXPECT_EQ(store->UploadOffset(digest), 400u);
  EXPECT_FALSE(store->StoredSize(digest).has_value());
  EXPECT_FALSE(store->OpenArtifact(digest).has_value());  // a partial is never served

  auto wrong_offset = store->BeginUpload(digest, bytes.size(), 500);
  ASSERT_FALSE(wrong_offset.has_value());
  EXPECT_EQ(wrong_offset.error().code(), ErrorCode::kRefused);

  auto session = store->BeginUpload(digest, bytes.size(), 400);
  ASSERT_TRUE(session.has_value());
  auto concurrent = store->BeginUpload(digest, bytes.size(), 400);
  ASSERT_FALSE(concurrent.has_value());
  EXPECT_EQ(concurrent.error().code(), ErrorCode::kUnavailable);
  Bytes too_long(601, 0);
  EXPECT_FALSE((*session)->Append(too_long).has_value());
  ASSERT_TRUE((*session)->Append(ByteSpan(bytes).subspan(400)).has_value());
  ASSERT_TRUE((*session)->complete());
  ASSERT_TRUE((*session)->Finish().has_value());
  session->reset();

  EXPECT_EQ(store->StoredSize(digest), 1000u);
  EXPECT_FALSE(store->UploadOffset(digest).has_value());
  auto file = store->OpenArtifact(digest);
  ASSERT_TRUE(file.has_value());
  Bytes read(1000);
  EXPECT_EQ((*file)->ReadAt(0, read).value(), 1000u);
  EXPECT_EQ(read, bytes);
  auto again = store->BeginUpload(digest, bytes.size(), 0);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(ArtifactStoreTest, ADigestMismatchDeletesThePartial) {
  auto store = Open();
  Bytes bytes = Pattern(100, 2);
  auto digest = crypto::Sha256(bytes);
  bytes[50] ^= 1;
  auto session = store->BeginUpload(digest, bytes.size(), 0);
  ASSERT_TRUE(session.has_value());
  ASSERT_TRUE((*session)->Append(bytes).has_value());
  auto finished = (*session)->Finish();
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().code(), ErrorCode::kCorruption);
  session->reset();
  EXPECT_FALSE(store->UploadOffset(digest).has_value());
  EXPECT_FALSE(store->StoredSize(digest).has_value());
}

TEST_F(ArtifactStoreTest, BoundsSizeAndUploadsInProgress) {
  auto store = Open({.directory = {}, .artifact_bytes_max = 1000, .uploads_max = 2,
                     .partial_age_max = std::chrono::hours(1)});
  auto too_large = store->BeginUpload(crypto::Sha256(ToBytes("x")), 1001, 0);
  ASSERT_FALSE(too_large.has_value());
  EXPECT_EQ(too_large.error().code(), ErrorCode::kResourceExhausted);
  for (uint8_t i = 0; i < 2; ++i) {
    auto session = store->BeginUpload(crypto::Sha256(Bytes{i}), 10, 0);
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->Append(Bytes{1}).has_value());
  }
  auto third = store->BeginUpload(crypto::Sha256(Bytes{9}), 10, 0);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().code(), ErrorCode::kResourceExhausted);
  // An existing partial may still continue.
  EXPECT_TRUE(store->BeginUpload(crypto::Sha256(Bytes{0}), 10, 1).has_value());
}

TEST_F(ArtifactStoreTest, ReopeningResumesPartialsDropsStaleOnesAndStrayFiles) {
  Bytes bytes = Pattern(300, 3);
  auto digest = crypto::Sha256(bytes);
  {
    auto store = Open();
    auto session = store->BeginUpload(digest, bytes.size(), 0);
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->Append(ByteSpan(bytes).first(100)).has_value());
    // What a killed server leaves: the partial, no session.
  }
  std::ofstream(directory_.path() / "store" / "uploads" / "junk.tmp") << "junk";
  {
    auto store = Open();
    EXPECT_EQ(store->UploadOffset(digest), 100u);
    EXPECT_FALSE(std::filesystem::exists(directory_.path() / "store" / "uploads" / "junk.tmp"));
    auto session = store->BeginUpload(digest, bytes.size(), 100);
    ASSERT_TRUE(session.has_value());
    ASSERT_TRUE((*session)->Append(ByteSpan(bytes).subspan(100, 50)).has_value());
  }
  // With an age limit of zero every partial not being written is stale.
  auto store = Open({.directory = {}, .artifact_bytes_max = limits::kArtifactBytesMaxDefault,
                     .uploads_max = 4, .partial_age_max = std::chrono::seconds(0)});
  EXPECT_FALSE(store->UploadOffset(digest).has_value());
  EXPECT_FALSE(store->StoredSize(digest).has_value());
}

TEST_F(ArtifactStoreTest, NeverOverwritesAStoredArtifact) {
  auto store = Open();
  Bytes bytes = Pattern(10, 4);
  auto digest = crypto::Sha256(bytes);
  auto first = store->BeginUpload(digest, bytes.size(), 0);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE((*first)->Append(bytes).has_value());
  // Someone put a file under the name meanwhile (by hand): Finish must not replace it.
  std::ofstream(store->ArtifactPath(digest)) << "hand-made";
  auto finished = (*first)->Finish();
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().code(), ErrorCode::kAlreadyExists);
  auto kept = ReadFile(store->ArtifactPath(digest), 100);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(std::string(kept->begin(), kept->end()), "hand-made");
}

TEST(DigestHexTest, OnlyLowerCaseHexOfTheRightLength) {
  auto digest = crypto::Sha256(ToBytes("a"));
  EXPECT_EQ(DigestFromHex(DigestToHex(digest)).value(), digest);
  std::string upper = DigestToHex(digest);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_FALSE(DigestFromHex(upper).has_value());
  EXPECT_FALSE(DigestFromHex(DigestToHex(digest).substr(1)).has_value());
  EXPECT_FALSE(DigestFromHex("../../etc/passwd").has_value());
}

}  // namespace
}  // namespace vigil::artifacts
