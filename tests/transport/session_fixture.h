// A loopback fixture: an echo server for devices (run by a gateway certificate) and a
// dialer that records what a client session saw.
#pragma once

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "test_fleet.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vigil::transport::testing {

inline constexpr FrameType kEchoType = kFrameTypeApplicationFirst;

struct SessionRecord {
  ConnectionPointer connection;
  bool opened = false;
  std::optional<pki::Identity> server_identity;
  std::optional<Error> closed;
  std::vector<std::pair<FrameType, Bytes>> frames;
};

class SessionTest : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kTestTimeout{10000};

  ServerOptions DefaultServerOptions() const {
    ServerOptions options;
    options.connection.allowed_peer_roles = {pki::Role::kDevice};
    options.connection.handshake_timeout = std::chrono::milliseconds(3000);
    return options;
  }

  DialOptions DefaultDialOptions() const {
    DialOptions options;
    options.port = server_ ? server_->port() : 0;
    options.connection.allowed_peer_roles = {pki::Role::kGateway};
    options.connection.handshake_timeout = std::chrono::milliseconds(3000);
    return options;
  }

  void StartServer(ServerOptions options) {
    Handlers handlers;
    handlers.on_open = [this](const ConnectionPointer& connection) {
      server_opened_.push_back(connection->peer_identity());
    };
    handlers.on_frame = [this](const ConnectionPointer& connection, FrameType type,
                               ByteSpan payload) {
      ++server_frames_;
      if (server_echo_) {
        Status sent = connection->Send(type, payload);
        EXPECT_TRUE(sent) << sent.error().ToString();
      }
    };
    handlers.on_close = [this](const ConnectionPointer&, const Error& reason) {
      server_closed_.push_back(reason);
    };
    auto server = Server::Create(io_, MakeTls(gateway_, TlsSide::kServer), std::move(options),
                                 std::move(handlers));
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
  }
  void StartServer() { StartServer(DefaultServerOptions()); }

  std::shared_ptr<SessionRecord> DialServer(const pki::NodeCredentials& credentials,
                                            DialOptions options) {
    auto record = std::make_shared<SessionRecord>();
    Handlers handlers;
    handlers.on_open = [record](const ConnectionPointer& connection) {
      record->opened = true;
      record->server_identity = connection->peer_identity();
    };
    handlers.on_frame = [record](const ConnectionPointer&, FrameType type, ByteSpan payload) {
      record->frames.emplace_back(type, Bytes(payload.begin(), payload.end()));
    };
    handlers.on_close = [record](const ConnectionPointer&, const Error& reason) {
      record->closed = reason;
    };
    record->connection =
        Dial(io_, MakeTls(credentials, TlsSide::kClient), std::move(options), std::move(handlers));
    records_.push_back(record);
    return record;
  }
  std::shared_ptr<SessionRecord> DialServer(const pki::NodeCredentials& credentials) {
    return DialServer(credentials, DefaultDialOptions());
  }

  // A session still open at the end holds its record, whose handlers hold the session:
  // drop the pointers so the sanitizer build sees no leak.
  void TearDown() override {
    for (auto& record : records_) record->connection.reset();
  }

  bool WaitFor(const std::function<bool()>& done) { return RunUntil(io_, done, kTestTimeout); }

  // A refused peer must leave the server able to serve: dial a good device, echo, close.
  void ExpectServesGoodClient() {
    auto good = DialServer(device_);
    ASSERT_TRUE(WaitFor([&] { return good->opened || good->closed; }));
    ASSERT_TRUE(good->opened) << good->closed->ToString();
    ASSERT_TRUE(good->connection->Send(kEchoType, ToBytes("still serving")));
    ASSERT_TRUE(WaitFor([&] { return !good->frames.empty(); }));
    EXPECT_EQ(good->frames[0].second, ToBytes("still serving"));
    good->connection->Close("done");
    ASSERT_TRUE(WaitFor([&] { return good->closed.has_value(); }));
  }

  uint64_t Refused(RefusalReason reason) const { return server_->stats().refused(reason); }

  asio::io_context io_;
  TestFleet fleet_;
  pki::NodeCredentials gateway_ = fleet_.Issue(pki::Role::kGateway, "gateway-1");
  pki::NodeCredentials device_ = fleet_.Issue(pki::Role::kDevice, "device-1");
  std::unique_ptr<Server> server_;
  std::vector<pki::Identity> server_opened_;
  std::vector<Error> server_closed_;
  size_t server_frames_ = 0;
  std::vector<std::shared_ptr<SessionRecord>> records_;
  bool server_echo_ = true;
};

inline bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace vigil::transport::testing
