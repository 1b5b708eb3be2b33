// The artifact store inside a real peer: an in-process PeerNode from peer::CreateCluster (its
// own store, genesis and node certificate), its artifact server on the cluster's artifacts
// port, and the authorization from its ledger state.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <future>
#include <thread>

#include "api/client.h"
#include "artifacts/client.h"
#include "common/file.h"
#include "common/log.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "peer/config.h"
#include "peer/node.h"
#include "test_support/in_process_peer.h"
#include "test_support/temporary_directory.h"

namespace vigil::artifacts {
namespace {

using namespace std::chrono_literals;

class PeerArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(peer_.Start(directory_.path() / "cluster", "artifacts-peer-test"));
    cluster_ = peer_.cluster();
    ASSERT_NE(cluster_.peers[0].artifacts_port, 0);
    auto reread = peer::ReadCluster(cluster_.directory);
    ASSERT_TRUE(reread.has_value());
    EXPECT_EQ(reread->peers[0].artifacts_port, cluster_.peers[0].artifacts_port);
  }

  void TearDown() override { peer_.Stop(); }


  Status Upload(const crypto::PrivateKey& signer, const Bytes& bundle, std::string version) {
    ledger::PublishRelease body{.app = "press-control", .version = std::move(version),
                                .bundle_digest = crypto::Sha256(bundle),
                                .bundle_size_bytes = bundle.size(),
                                .manifest_root = crypto::Sha256(ToBytes("manifest")),
                                .notes = "line 3"};
    Bytes envelope = ledger::SignTransaction(cluster_.chain_id, body, 1, signer);
    auto path = directory_.path() / "bundle";
    EXPECT_TRUE(WriteFileAtomically(path, bundle, 0644).has_value());
    UploadOptions options;
    options.connection.ca_file = cluster_.peers[0].directory / "node" / "ca.pem";
    options.chunk_bytes = 100'000;
    return UploadArtifact(Url(), path, envelope, nullptr, options);
  }

  MirrorUrl Url() const {
    return MirrorUrl{.scheme = "https", .host = cluster_.peers[0].host,
                     .port = cluster_.peers[0].artifacts_port, .path_prefix = ""};
  }

  test_support::TemporaryDirectory directory_{"vigil-artifacts-peer"};
  test_support::InProcessPeer peer_;  // after directory_: stopped before it is removed
  peer::Cluster cluster_;
};

TEST_F(PeerArtifactsTest, APublisherUploadIsAcceptedAndANonPublisherIsRefused) {
  Bytes bundle(350'000);
  for (size_t i = 0; i < bundle.size(); ++i) bundle[i] = static_cast<uint8_t>(i % 251);

  auto admin = crypto::ReadPrivateKeyFile(cluster_.admins.front() / "key.pem");
  ASSERT_TRUE(admin.has_value());
  auto refused = Upload(*admin, bundle, "1.0.0");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied) << refused.error().message();
  EXPECT_NE(refused.error().message().find("not a publisher"), std::string::npos);

  auto publisher = crypto::ReadPrivateKeyFile(cluster_.publisher / "key.pem");
  ASSERT_TRUE(publisher.has_value());
  auto accepted = Upload(*publisher, bundle, "1.0.0");
  ASSERT_TRUE(accepted.has_value()) << accepted.error().message();
  EXPECT_TRUE(std::filesystem::exists(cluster_.peers[0].directory / "data" / "artifacts" /
                                      "sha256" / ToHex(crypto::Sha256(bundle))));

  FetchOptions fetch;
  fetch.connection.ca_file = cluster_.peers[0].directory / "node" / "ca.pem";
  auto partial = directory_.path() / "fetched";
  auto fetched = FetchArtifact(Url(), crypto::Sha256(bundle), bundle.size(), partial, fetch);
  ASSERT_TRUE(fetched.has_value()) << fetched.error().message();
  EXPECT_EQ(ReadFile(partial, 1'000'000).value(), bundle);
}

}  // namespace
}  // namespace vigil::artifacts
