// PublishBundle against a real in-process peer (peer::CreateCluster + PeerNode, its artifact
// store on the cluster's artifacts port): the release committed and verified, the sequence
// found by the ledger's own refusal, every refusal with its sentence, an unreachable store
// leaving the ledger untouched, and an interrupted upload resumed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "artifacts/http_headers.h"
#include "artifacts/server.h"
#include "common/file.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "ledger/execute.h"
#include "ledger/rules.h"
#include "ledger/test_chain.h"
#include "peer/cluster.h"
#include "peer/config.h"
#include "peer/node.h"
#include "pki/pki.h"
#include "publish/publish.h"
#include "release/bundle.h"
#include "test_support/in_process_peer.h"
#include "test_support/temporary_directory.h"

namespace vigil::publish {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kApp = "press-control";
// Bytes of the release's one big file: several upload chunks of kChunkBytes.
constexpr size_t kPayloadBytes = 300'000;
constexpr size_t kChunkBytes = 64 * 1024;

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(peer_.Start(directory_.path() / "cluster", "publish-test"));
    cluster_ = peer_.cluster();
  }

  void TearDown() override { peer_.Stop(); }


  // A bundle of `version` holding an executable and a payload that differs per version.
  std::filesystem::path Bundle(const std::string& version, const std::string& variant = "") {
    auto source = directory_.path() / ("source-" + version + variant);
    std::filesystem::create_directories(source / "bin");
    std::ofstream(source / "bin" / "app") << "#!/bin/sh\necho " << version << "\n";
    std::filesystem::permissions(source / "bin" / "app", std::filesystem::perms(0755));
    // Incompressible, and different for each version and `variant`.
    std::mt19937_64 random(std::hash<std::string>{}(version + variant));
    std::string payload(kPayloadBytes, '\0');
    for (char& byte : payload) byte = static_cast<char>(random());
    std::ofstream(source / "payload.bin", std::ios::binary) << payload;
    auto output = directory_.path() / (std::string(kApp) + "-" + version + variant + ".vigil");
    auto built = release::BuildBundle(
        source, {.app = std::string(kApp), .version = version, .entry = {"bin/app"}, .health = {},
                 .hooks = {}},
        output);
    EXPECT_TRUE(built.has_value()) << built.error().message();
    return output;
  }

  PublishRequest Request(const std::filesystem::path& bundle) {
    auto request = RequestForCluster(cluster_, bundle);
    EXPECT_TRUE(request.has_value()) << request.error().message();
    request->upload_chunk_bytes = kChunkBytes;
    request->notes = "line 3";
    return *request;
  }

  std::filesystem::path StoredArtifact(const crypto::Sha256Digest& digest) const {
    return cluster_.peers[0].directory / "data" / "artifacts" / "sha256" / ToHex(digest);
  }

  test_support::TemporaryDirectory directory_{"vigil-publish"};
  test_support::InProcessPeer peer_;  // after directory_: stopped before it is removed
  peer::Cluster cluster_;
};

TEST_F(PublishTest, PublishesAndReturnsWhatTheLedgerRecordedVerified) {
  std::vector<Stage> stages;
  uint64_t last_done = 0, last_total = 0;
  size_t upload_calls = 0;
  PublishProgress progress{
      .on_stage = [&](Stage stage) { stages.push_back(stage); },
      .on_upload =
          [&](const artifacts::MirrorUrl&, uint64_t done, uint64_t total) {
            ++upload_calls;
            last_done = done;
            last_total = total;
          }};
  auto bundle = Bundle("1.0.0");
  auto outcome = PublishBundle(Request(bundle), progress);
  ASSERT_TRUE(outcome.has_value()) << outcome.error().message();
  EXPECT_EQ(outcome->app, kApp);
  EXPECT_EQ(outcome->version, "1.0.0");
  EXPECT_TRUE(outcome->result.ok());
  EXPECT_GE(outcome->height, 1u);
  EXPECT_TRUE(outcome->verified);
  EXPECT_GT(outcome->block_time_ms, 0);
  EXPECT_EQ(outcome->bundle_digest, crypto::Sha256OfFile(bundle).value());
  EXPECT_EQ(outcome->bundle_size_bytes, std::filesystem::file_size(bundle));
  EXPECT_EQ(outcome->manifest_root, release::ManifestRoot(release::VerifyBundle(bundle).value()));
  EXPECT_EQ(outcome->files, 2u);
  EXPECT_EQ(outcome->sequence, 1u);
  EXPECT_EQ(outcome->submissions, 1u);
  ASSERT_EQ(outcome->uploads.size(), 1u);
  EXPECT_TRUE(outcome->uploads[0].stored);
  EXPECT_EQ(outcome->uploads[0].resumed_from_bytes, 0u);
  EXPECT_TRUE(std::filesystem::exists(StoredArtifact(outcome->bundle_digest)));
  // Several chunks, each reported, the last one complete.
  EXPECT_GE(upload_calls, outcome->bundle_size_bytes / kChunkBytes);
  EXPECT_EQ(last_done, outcome->bundle_size_bytes);
  EXPECT_EQ(last_total, outcome->bundle_size_bytes);
  EXPECT_EQ(stages, (std::vector<Stage>{Stage::kVerifying, Stage::kConnecting, Stage::kUploading,
                                        Stage::kSubmitting, Stage::kDone}));

  // The next publish guesses sequence 1 again; the ledger's refusal names 2, signed again.
  auto second = PublishBundle(Request(Bundle("1.1.0")), {});
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_EQ(second->sequence, 2u);
  EXPECT_EQ(second->submissions, 2u);
  EXPECT_GT(second->height, outcome->height);
  EXPECT_TRUE(second->verified);
}

TEST_F(PublishTest, AVersionThatExistsIsRefused) {
  auto bundle = Bundle("1.0.0");
  auto first = PublishBundle(Request(bundle), {});
  ASSERT_TRUE(first.has_value()) << first.error().message();
  // Other bytes under the same version: the ledger's rule.
  auto rebuilt = PublishBundle(Request(Bundle("1.0.0", "-rebuilt")), {});
  ASSERT_FALSE(rebuilt.has_value());
  EXPECT_EQ(rebuilt.error().code(), ErrorCode::kAlreadyExists) << rebuilt.error().message();
  EXPECT_TRUE(Contains(rebuilt.error().message(),
                       "the ledger refused the release: press-control 1.0.0 already exists"))
      << rebuilt.error().message();
  // The very same bundle again is the very same transaction; the peer answers with the first
  // commit, which this run must not claim as its own.
  auto again = PublishBundle(Request(bundle), {});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists) << again.error().message();
  EXPECT_TRUE(Contains(again.error().message(),
                       "this very bundle was published at height " + std::to_string(first->height)))
      << again.error().message();
}

TEST_F(PublishTest, AVersionNotNewerThanTheLatestIsRefused) {
  ASSERT_TRUE(PublishBundle(Request(Bundle("2.0.0")), {}).has_value());
  auto older = PublishBundle(Request(Bundle("1.5.0")), {});
  ASSERT_FALSE(older.has_value());
  EXPECT_EQ(older.error().code(), ErrorCode::kRefused) << older.error().message();
  EXPECT_TRUE(Contains(older.error().message(), "the ledger refused the release: press-control "
                                                "1.5.0 is not newer than the latest 2.0.0"))
      << older.error().message();
}

TEST_F(PublishTest, AKeyThatIsNotAPublisherIsRefusedAndNothingIsSubmitted) {
  // An admin's directory: a valid key and certificate, but no publisher on the ledger.
  PublishRequest request = Request(Bundle("1.0.0"));
  request.key_directory = cluster_.admins.front();
  auto refused = PublishBundle(request, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied) << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "is not a publisher"))
      << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "add-publisher")) << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "not submitted")) << refused.error().message();
  // The real publisher can still publish that version: nothing was recorded.
  auto published = PublishBundle(Request(Bundle("1.0.0")), {});
  EXPECT_TRUE(published.has_value()) << published.error().message();
}

TEST_F(PublishTest, ABadSignatureIsRefusedBeforeAnyUpload) {
  // A signer that claims the publisher's key but signs with another one (a damaged HSM, or a
  // key file swapped under its certificate).
  auto publisher = pki::LoadNodeDirectory(cluster_.publisher);
  ASSERT_TRUE(publisher.has_value());
  auto other = std::make_shared<crypto::PrivateKey>(crypto::PrivateKey::Generate().value());
  PublishRequest request = Request(Bundle("1.0.0"));
  request.signer = Signer{.public_key = publisher->key.public_key(),
                          .sign = [other](ByteSpan message) { return other->Sign(message); }};
  auto refused = PublishBundle(request, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated) << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "signature does not verify"))
      << refused.error().message();
  EXPECT_FALSE(std::filesystem::exists(
      StoredArtifact(crypto::Sha256OfFile(request.bundle).value())));
  EXPECT_FALSE(std::filesystem::exists(cluster_.peers[0].directory / "data" / "artifacts" /
                                       "uploads" /
                                       (ToHex(crypto::Sha256OfFile(request.bundle).value()) +
                                        ".partial")));
}

TEST_F(PublishTest, AnUnreachableStoreMeansTheTransactionIsNotSubmitted) {
  PublishRequest request = Request(Bundle("1.0.0"));
  // A port nothing listens on: every attempt is refused.
  request.artifact_stores = {{.scheme = "https", .host = "127.0.0.1", .port = 1,
                              .path_prefix = ""}};
  auto refused = PublishBundle(request, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable) << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "upload is incomplete"))
      << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "not submitted")) << refused.error().message();
  // Had it been submitted, this would be refused as existing; it commits as sequence 1.
  auto published = PublishBundle(Request(request.bundle), {});
  ASSERT_TRUE(published.has_value()) << published.error().message();
  EXPECT_EQ(published->sequence, 1u);
  EXPECT_EQ(published->submissions, 1u);
}

TEST_F(PublishTest, OneReachableStoreIsEnough) {
  PublishRequest request = Request(Bundle("1.0.0"));
  request.artifact_stores.insert(request.artifact_stores.begin(),
                                 {.scheme = "https", .host = "127.0.0.1", .port = 1,
                                  .path_prefix = ""});
  auto published = PublishBundle(request, {});
  ASSERT_TRUE(published.has_value()) << published.error().message();
  ASSERT_EQ(published->uploads.size(), 2u);
  EXPECT_FALSE(published->uploads[0].stored);
  EXPECT_FALSE(published->uploads[0].problem.empty());
  EXPECT_TRUE(published->uploads[1].stored);
}

TEST_F(PublishTest, ABundleThatFailsVerificationIsRefusedBeforeTheNetwork) {
  auto bundle = Bundle("1.0.0");
  // One byte of the compressed archive flipped (past the header and manifest).
  std::fstream file(bundle, std::ios::in | std::ios::out | std::ios::binary);
  const auto size = std::filesystem::file_size(bundle);
  file.seekg(static_cast<std::streamoff>(size / 2));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x40);
  file.seekp(static_cast<std::streamoff>(size / 2));
  file.write(&byte, 1);
  file.close();
  PublishRequest request = Request(bundle);
  request.peers.clear();  // reaching the network would fail with another error
  auto refused = PublishBundle(request, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption) << refused.error().message();
  EXPECT_TRUE(Contains(refused.error().message(), "fails verification, nothing was sent"))
      << refused.error().message();
}

TEST_F(PublishTest, ASecondRunResumesAnInterruptedUpload) {
  auto bundle = Bundle("1.0.0");
  const auto digest = crypto::Sha256OfFile(bundle).value();
  const uint64_t size = std::filesystem::file_size(bundle);
  auto manifest = release::VerifyBundle(bundle).value();
  auto publisher = pki::LoadNodeDirectory(cluster_.publisher).value();
  // An earlier run that sent its first chunk and died: its transaction, its bytes.
  const Bytes envelope = ledger::SignTransaction(
      cluster_.chain_id,
      ledger::PublishRelease{.app = std::string(kApp), .version = "1.0.0",
                             .bundle_digest = digest, .bundle_size_bytes = size,
                             .manifest_root = release::ManifestRoot(manifest), .notes = ""},
      1, publisher.key);
  const Bytes contents = ReadFile(bundle, size).value();
  constexpr size_t kFirstBytes = 100'000;
  httplib::SSLClient client(cluster_.peers[0].host, cluster_.peers[0].artifacts_port);
  client.enable_server_certificate_verification(false);
  httplib::Headers headers = {
      {artifacts::kTransactionHeader, artifacts::Base64Encode(envelope)},
      {"Content-Range", "bytes 0-" + std::to_string(kFirstBytes - 1) + "/" + std::to_string(size)}};
  auto response = client.Put("/v1/artifacts/sha256/" + ToHex(digest), headers,
                             reinterpret_cast<const char*>(contents.data()), kFirstBytes,
                             "application/octet-stream");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  ASSERT_EQ(response->status, 200) << response->body;

  auto published = PublishBundle(Request(bundle), {});
  ASSERT_TRUE(published.has_value()) << published.error().message();
  ASSERT_EQ(published->uploads.size(), 1u);
  EXPECT_EQ(published->uploads[0].resumed_from_bytes, kFirstBytes);
  EXPECT_EQ(ReadFile(StoredArtifact(digest), size).value(), contents);
}

// PublishBundle finds its sequence in the ledger's bad-sequence refusals: pinned here against
// the rules themselves, for a replayed and a skipped-ahead sequence.
TEST(PublishSequenceTest, TheLedgersRefusalNamesTheNextSequence) {
  ledger::testing::TestChain chain;
  const crypto::PrivateKey& publisher = chain.keys().publisher;
  ASSERT_TRUE(chain.Submit(chain.Sign(chain.Release("press", "1.0.0"), publisher)).ok());
  const ledger::BlockContext context{.height = chain.state().tip().height + 1,
                                     .time_ms = chain.NextTimeMs(),
                                     .rules = ledger::FindRules(1)};
  for (uint64_t sequence : {uint64_t{1}, uint64_t{9}}) {
    Bytes transaction =
        chain.SignWithSequence(chain.Release("press", "1.1.0"), publisher, sequence);
    auto checked =
        ledger::CheckTransactionStateless(transaction, ledger::testing::kChainId).value();
    ledger::TransactionResult result =
        ledger::CheckTransactionStateful(chain.state(), checked, context);
    EXPECT_EQ(result.code, ledger::ResultCode::kBadSequence) << result.reason;
    EXPECT_EQ(ledger::NextSequenceNamedBy(result), 2u) << result.reason;
  }
}

}  // namespace
}  // namespace vigil::publish
