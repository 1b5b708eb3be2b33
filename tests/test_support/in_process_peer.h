// One real peer — PeerNode with its store, TLS client API and artifact store — running inside
// the test's process on its own io_context thread, from a fresh one-peer cluster: the ledger the
// artifact, publish and gateway tests talk to, as if it were its own process.
//
//   test_support::InProcessPeer peer;
//   ASSERT_NO_FATAL_FAILURE(peer.Start(directory_.path() / "cluster", "publish-test"));
//   ... peer.cluster() ...        // stopped by the destructor
#pragma once

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/log.h"
#include "peer/cluster.h"
#include "peer/config.h"
#include "peer/node.h"

namespace vigil::test_support {

class InProcessPeer {
 public:
  InProcessPeer() = default;
  InProcessPeer(const InProcessPeer&) = delete;
  InProcessPeer& operator=(const InProcessPeer&) = delete;
  ~InProcessPeer() { Stop(); }

  // Fatal test failures when the cluster cannot be created or the peer does not start.
  void Start(const std::filesystem::path& directory, const std::string& chain_id,
             std::chrono::milliseconds empty_block_interval = std::chrono::milliseconds(200)) {
    spdlog::set_level(spdlog::level::warn);
    peer::ClusterSpec spec;
    spec.directory = directory;
    spec.peers = 1;
    spec.chain_id = chain_id;
    spec.empty_block_interval = empty_block_interval;
    spec.timeout_propose = std::chrono::milliseconds(500);
    spec.durable = false;  // tests: survive kill, not power loss
    auto cluster = peer::CreateCluster(spec);
    ASSERT_TRUE(cluster.has_value()) << cluster.error().message();
    cluster_ = std::move(*cluster);
    auto options = peer::LoadPeerConfig(cluster_.peers[0].config);
    ASSERT_TRUE(options.has_value()) << options.error().message();
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_context_);
      io_context_.run();
    });
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
    ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    auto status = future.get();
    ASSERT_TRUE(status.has_value()) << status.error().message();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    std::promise<void> stopped;
    asio::post(io_context_, [&] {
      if (node_) node_->Stop();
      node_.reset();
      stopped.set_value();
    });
    stopped.get_future().wait_for(std::chrono::seconds(20));
    io_context_.stop();
    thread_.join();
  }

  const peer::Cluster& cluster() const { return cluster_; }

 private:
  peer::Cluster cluster_;
  asio::io_context io_context_;
  std::thread thread_;
  std::unique_ptr<peer::PeerNode> node_;
};

}  // namespace vigil::test_support
