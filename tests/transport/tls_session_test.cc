// Loopback TLS 1.3 sessions: identities, frames, close, backpressure, timeouts, reconnects.
#include "session_fixture.h"

namespace vigil::transport::testing {
namespace {

using std::chrono::milliseconds;

TEST_F(SessionTest, HappyPathHandsIdentitiesToBothSides) {
  StartServer();
  auto session = DialServer(device_);
  ASSERT_TRUE(WaitFor([&] { return session->opened || session->closed; }));
  ASSERT_TRUE(session->opened) << session->closed->ToString();

  // The client sees the gateway, the server sees the device: key, role and name.
  ASSERT_TRUE(session->server_identity);
  EXPECT_EQ(session->server_identity->role, pki::Role::kGateway);
  EXPECT_EQ(session->server_identity->name, "gateway-1");
  EXPECT_EQ(session->server_identity->public_key, gateway_.key.public_key());
  ASSERT_TRUE(WaitFor([&] { return !server_opened_.empty(); }));
  EXPECT_EQ(server_opened_[0].role, pki::Role::kDevice);
  EXPECT_EQ(server_opened_[0].name, "device-1");
  EXPECT_EQ(server_opened_[0].public_key, device_.key.public_key());

  // TLS 1.3 with an AEAD suite.
  EXPECT_TRUE(Contains(session->connection->cipher(), "TLS_AES_") ||
              Contains(session->connection->cipher(), "CHACHA20"))
      << session->connection->cipher();

  // Frames of every size, including empty and one far larger than a read chunk and a TLS
  // record, come back intact and in order.
  std::vector<Bytes> payloads = {Bytes{}, ToBytes("hello"), Bytes(70000, 0x5A),
                                 Bytes(3 * 1024 * 1024 + 7, 0xC3)};
  for (auto& payload : payloads) ASSERT_TRUE(session->connection->Send(kEchoType, payload));
  ASSERT_TRUE(WaitFor([&] { return session->frames.size() == payloads.size(); }));
  for (size_t index = 0; index < payloads.size(); ++index) {
    EXPECT_EQ(session->frames[index].first, kEchoType);
    EXPECT_EQ(session->frames[index].second, payloads[index]) << "frame " << index;
  }

  // A shared payload goes out without a copy and arrives the same.
  auto shared = std::make_shared<const Bytes>(Bytes(1000, 1));
  ASSERT_TRUE(session->connection->Send(kEchoType + 1, shared));
  ASSERT_TRUE(WaitFor([&] { return session->frames.size() == payloads.size() + 1; }));
  EXPECT_EQ(session->frames.back().first, kEchoType + 1);
  EXPECT_EQ(session->frames.back().second, *shared);
}

TEST_F(SessionTest, GracefulCloseCarriesTheReasonToThePeer) {
  StartServer();
  auto session = DialServer(device_);
  ASSERT_TRUE(WaitFor([&] { return session->opened; }));
  ASSERT_TRUE(session->connection->Send(kEchoType, ToBytes("last words")));
  session->connection->Close("maintenance window");
  // Sending after Close is refused; what was queued before still goes out.
  Status late = session->connection->Send(kEchoType, ToBytes("too late"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(WaitFor([&] { return session->closed && !server_closed_.empty(); }));
  EXPECT_TRUE(Contains(session->closed->message(), "closed locally: maintenance window"));
  EXPECT_TRUE(Contains(server_closed_[0].message(), "peer closed the session: maintenance window"))
      << server_closed_[0].ToString();
  EXPECT_EQ(server_frames_, 1u);
  EXPECT_EQ(server_->stats().refused_total(), 0u) << server_->stats().DescribeRefusals();
}

TEST_F(SessionTest, ReservedTypesAndOversizePayloadsAreRefusedBySend) {
  StartServer();
  auto session = DialServer(device_);
  ASSERT_TRUE(WaitFor([&] { return session->opened; }));
  for (FrameType type : {kFrameTypeInvalid, kFrameTypeHeartbeat, kFrameTypeClose,
                         static_cast<FrameType>(kFrameTypeApplicationFirst - 1)}) {
    Status sent = session->connection->Send(type, ToBytes("x"));
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().code(), ErrorCode::kInvalidArgument);
  }
  Status huge = session->connection->Send(kEchoType, Bytes(limits::kFramePayloadBytesDefault + 1));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SessionTest, BackpressureBoundsTheQueueAndResumesOnWritable) {
  StartServer();
  DialOptions options = DefaultDialOptions();
  options.connection.send_queue_bytes_max = 64 * 1024;
  options.connection.send_queue_frames_max = 32;
  constexpr size_t kFrames = 2000;
  constexpr size_t kPayloadBytes = 4000;
  size_t sent = 0;
  size_t refusals = 0;
  size_t writable_calls = 0;
  size_t queued_bytes_peak = 0;
  auto record = std::make_shared<SessionRecord>();
  std::function<void(const ConnectionPointer&)> pump = [&](const ConnectionPointer& connection) {
    while (sent < kFrames) {
      Bytes payload(kPayloadBytes, static_cast<uint8_t>(sent));
      Status status = connection->Send(kEchoType, std::move(payload));
      if (!status) {
        EXPECT_EQ(status.error().code(), ErrorCode::kResourceExhausted);
        ++refusals;
        return;  // wait for on_writable
      }
      ++sent;
      queued_bytes_peak = std::max(queued_bytes_peak, connection->queued_bytes());
      EXPECT_LE(connection->queued_frames(), 32u);
    }
  };
  Handlers handlers;
  handlers.on_open = [&](const ConnectionPointer& connection) {
    record->opened = true;
    pump(connection);
  };
  handlers.on_writable = [&](const ConnectionPointer& connection) {
    ++writable_calls;
    EXPECT_LE(connection->queued_bytes(), 32u * 1024);
    pump(connection);
  };
  handlers.on_frame = [&](const ConnectionPointer&, FrameType, ByteSpan payload) {
    record->frames.emplace_back(kEchoType, Bytes(payload.begin(), payload.end()));
  };
  handlers.on_close = [&](const ConnectionPointer&, const Error& reason) {
    record->closed = reason;
  };
  auto connection = Dial(io_, MakeTls(device_, TlsSide::kClient), options, handlers);
  ASSERT_TRUE(WaitFor([&] { return record->frames.size() == kFrames || record->closed; }));
  ASSERT_FALSE(record->closed) << record->closed->ToString();
  EXPECT_GT(refusals, 0u) << "the queue limit was never reached";
  EXPECT_EQ(writable_calls, refusals);
  EXPECT_LE(queued_bytes_peak, 64u * 1024);
  for (size_t index = 0; index < kFrames; ++index) {
    ASSERT_EQ(record->frames[index].second[0], static_cast<uint8_t>(index)) << "order at " << index;
  }
  connection->Close("done");
  ASSERT_TRUE(WaitFor([&] { return record->closed.has_value(); }));
}

TEST_F(SessionTest, IdleTimeoutClosesASilentPeer) {
  ServerOptions server_options = DefaultServerOptions();
  server_options.connection.idle_timeout = milliseconds(300);
  StartServer(server_options);
  DialOptions options = DefaultDialOptions();
  options.connection.heartbeat_interval = milliseconds(0);  // a silent client
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->opened; }));
  auto opened_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  auto elapsed = std::chrono::steady_clock::now() - opened_at;
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(3000));
  EXPECT_EQ(Refused(RefusalReason::kIdleTimeout), 1u);
  EXPECT_TRUE(Contains(session->closed->message(), "idle timeout")) << session->closed->ToString();
  ExpectServesGoodClient();
}

TEST_F(SessionTest, HeartbeatsKeepAQuietSessionAlive) {
  ServerOptions server_options = DefaultServerOptions();
  server_options.connection.idle_timeout = milliseconds(300);
  server_options.connection.heartbeat_interval = milliseconds(60);
  StartServer(server_options);
  DialOptions options = DefaultDialOptions();
  options.connection.heartbeat_interval = milliseconds(60);
  options.connection.idle_timeout = milliseconds(300);
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->opened; }));
  RunFor(io_, milliseconds(1200));
  EXPECT_FALSE(session->closed) << session->closed->ToString();
  EXPECT_TRUE(session->connection->is_open());
  EXPECT_GE(server_->stats().frames_received.load(), 5u);  // heartbeats
  EXPECT_EQ(server_frames_, 0u) << "heartbeats must not reach the application";
}

TEST_F(SessionTest, ClientRefusesAServerWithTheWrongRole) {
  // A device insists on talking to a gateway; this server holds a peer certificate.
  gateway_ = fleet_.Issue(pki::Role::kPeer, "peer-1");
  StartServer();
  auto stats = std::make_shared<EndpointStats>();
  DialOptions options = DefaultDialOptions();
  options.stats = stats;
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  EXPECT_FALSE(session->opened);
  EXPECT_EQ(stats->refused(RefusalReason::kWrongRole), 1u) << stats->DescribeRefusals();
  EXPECT_EQ(session->closed->code(), ErrorCode::kRefused);
  EXPECT_TRUE(Contains(session->closed->message(), "role peer")) << session->closed->ToString();
}

TEST_F(SessionTest, ClientRefusesAServerWithTheWrongName) {
  StartServer();
  DialOptions options = DefaultDialOptions();
  options.connection.expected_peer_name = "gateway-7";
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  EXPECT_FALSE(session->opened);
  EXPECT_TRUE(Contains(session->closed->message(), "expected gateway-7"));
}

TEST_F(SessionTest, ClientRefusesAServerFromAnotherCa) {
  TestFleet other("vigil-test-ca");  // same name, different key: only the signature differs
  pki::NodeCredentials impostor = other.Issue(pki::Role::kGateway, "gateway-1");
  gateway_ =
      pki::NodeCredentials{impostor.certificate, std::move(impostor.key), fleet_.ca_certificate()};
  StartServer();
  auto stats = std::make_shared<EndpointStats>();
  DialOptions options = DefaultDialOptions();
  options.stats = stats;
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  EXPECT_FALSE(session->opened);
  EXPECT_EQ(stats->refused(RefusalReason::kUnknownCa), 1u) << stats->DescribeRefusals();
  EXPECT_EQ(session->closed->code(), ErrorCode::kUnauthenticated);
}

TEST_F(SessionTest, ConnectFailsCleanlyWhenNothingListens) {
  StartServer();
  DialOptions options = DefaultDialOptions();
  server_.reset();  // the port is now closed
  auto session = DialServer(device_, options);
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  EXPECT_FALSE(session->opened);
  EXPECT_EQ(session->closed->code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(Contains(session->closed->message(), "connecting to")) << session->closed->ToString();
}

TEST_F(SessionTest, ServerAtItsConnectionLimitRefusesMore) {
  ServerOptions options = DefaultServerOptions();
  options.connections_max = 2;
  StartServer(options);
  auto first = DialServer(device_);
  auto second = DialServer(device_);
  ASSERT_TRUE(WaitFor([&] { return first->opened && second->opened; }));
  auto third = DialServer(device_);
  ASSERT_TRUE(WaitFor([&] { return third->closed.has_value(); }));
  EXPECT_FALSE(third->opened);
  EXPECT_EQ(Refused(RefusalReason::kTooManyConnections), 1u);
  first->connection->Close("make room");
  ASSERT_TRUE(WaitFor([&] { return server_closed_.size() == 1; }));
  ExpectServesGoodClient();
}

TEST_F(SessionTest, InvalidOptionsAreRefusedWithAReason) {
  ServerOptions options = DefaultServerOptions();
  options.connection.allowed_peer_roles.clear();
  auto server = Server::Create(io_, MakeTls(gateway_, TlsSide::kServer), options, {});
  ASSERT_FALSE(server);
  EXPECT_TRUE(Contains(server.error().message(), "allowed_peer_roles"));
  options = DefaultServerOptions();
  options.connection.frame_payload_bytes_max = limits::kFramePayloadBytesMax + 1;
  server = Server::Create(io_, MakeTls(gateway_, TlsSide::kServer), options, {});
  ASSERT_FALSE(server);
  // A client context cannot serve.
  server = Server::Create(io_, MakeTls(gateway_, TlsSide::kClient), DefaultServerOptions(), {});
  ASSERT_FALSE(server);
}

TEST_F(SessionTest, ReconnectingClientComesBackAfterServerRestart) {
  StartServer();
  const uint16_t port = server_->port();
  DialOptions options = DefaultDialOptions();
  size_t opens = 0;
  std::vector<Error> closes;
  Handlers handlers;
  handlers.on_open = [&](const ConnectionPointer&) { ++opens; };
  handlers.on_close = [&](const ConnectionPointer&, const Error& reason) {
    closes.push_back(reason);
  };
  BackoffOptions backoff{milliseconds(20), milliseconds(200), 2, Jitter::kFull};
  ReconnectingClient client(io_, MakeTls(device_, TlsSide::kClient), options, handlers, backoff, 7);
  client.Start();
  ASSERT_TRUE(WaitFor([&] { return opens == 1; }));
  ASSERT_TRUE(client.connection());

  server_->Stop();
  server_.reset();
  ASSERT_TRUE(WaitFor([&] { return closes.size() == 1; }));
  EXPECT_FALSE(client.connection());
  // While the server is down the client keeps dialing, with growing delays.
  ASSERT_TRUE(WaitFor([&] { return client.dial_attempts() >= 4; }));
  ASSERT_TRUE(client.last_error());

  ServerOptions server_options = DefaultServerOptions();
  server_options.port = port;
  StartServer(server_options);
  ASSERT_TRUE(WaitFor([&] { return opens == 2; }));
  EXPECT_EQ(client.sessions_opened(), 2u);
  ASSERT_TRUE(client.connection());
  ASSERT_TRUE(client.connection()->Send(kEchoType, ToBytes("back")));
  ASSERT_TRUE(WaitFor([&] { return server_frames_ == 1; }));
  client.Stop();
  ASSERT_TRUE(WaitFor([&] { return closes.size() == 2; }));
}

}  // namespace
}  // namespace vigil::transport::testing
