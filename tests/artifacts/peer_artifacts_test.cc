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
#include "test_support/temporary_directory.h"

namespace vigil::artifacts {
namespace {

using namespace std::chrono_literals;

class PeerArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    peer::ClusterSpec spec;
    spec.directory = directory_.path() / "cluster";
    spec.peers = 1;
    spec.chain_id = "artifacts-peer-test";
    spec.empty_block_interval = 200ms;
    spec.timeout_propose = 500ms;
    spec.durable = false;
    auto cluster = peer::CreateCluster(spec);
    ASSERT_TRUE(cluster.has_value()) << cluster.error().message();
    cluster_ = std::move(*cluster);
    ASSERT_NE(cluster_.peers[0].artifacts_port, 0);
    auto reread = peer::ReadCluster(cluster_.directory);
    ASSERT_TRUE(reread.has_value());
    EXPECT_EQ(reread->peers[0].artifacts_port, cluster_.peers[0].artifacts_port);

    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_context_);
      io_context_.run();
    });
    auto options = peer::LoadPeerConfig(cluster_.peers[0].config);
    ASSERT_TRUE(options.has_value()) << options.error().message();
    ASSERT_TRUE(options->artifacts_enabled);
    std::promise<Status> started;
    asio::post(io_context_, [&] {
      auto node = peer::PeerNode::Start(io_context_, std::move(*options));
      if (!node) {
        started.set_value(std::unexpected(node.error()));
        return;
      }
      node_ = std::move(*node);
      started.set_value(Ok());
    });
    auto future = started.get_future();
    ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
    auto status = future.get();
    ASSERT_TRUE(status.has_value()) << status.error().message();
  }

  void TearDown() override {
    std::promise<void> stopped;
    asio::post(io_context_, [&] {
      if (node_) node_->Stop();
      node_.reset();
      stopped.set_value();
    });
    stopped.get_future().wait_for(20s);
    io_context_.stop();
    if (thread_.joinable()) thread_.join();
  }

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
  peer::Cluster cluster_;
  asio::io_context io_context_;
  std::thread thread_;
  std::unique_ptr<peer::PeerNode> node_;
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
