// Every refusal the issue lists, each asserted by its exact reason in the server's stats,
// and each followed by proof that the server still serves a good client.
#include <openssl/ssl.h>

#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>
#include <random>

#include "session_fixture.h"

namespace vigil::transport::testing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

class RefusalTest : public SessionTest {
 protected:
  asio::ip::tcp::endpoint ServerEndpoint() const {
    return {asio::ip::make_address("127.0.0.1"), server_->port()};
  }

  // A socket connected to the server (the kernel completes the connect from its backlog).
  std::unique_ptr<asio::ip::tcp::socket> RawConnect() {
    auto socket = std::make_unique<asio::ip::tcp::socket>(io_);
    asio::error_code error;
    socket->connect(ServerEndpoint(), error);
    EXPECT_FALSE(error) << error.message();
    return socket;
  }

  // An OpenSSL client context that presents no certificate and trusts anything.
  static std::unique_ptr<asio::ssl::context> RawTlsContext(int max_version) {
    SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(raw, max_version);
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
    return std::make_unique<asio::ssl::context>(raw);
  }

  void ExpectRefusedWith(RefusalReason reason) {
    ASSERT_TRUE(WaitFor([&] { return Refused(reason) == 1; }))
        << "wanted " << RefusalReasonName(reason) << ", got "
        << server_->stats().DescribeRefusals();
    EXPECT_EQ(server_->stats().refused_total(), 1u) << server_->stats().DescribeRefusals();
    EXPECT_TRUE(server_opened_.empty()) << "a refused peer must never reach the application";
  }

  // Dials with `credentials` and expects the client's session to fail, not open.
  std::shared_ptr<SessionRecord> DialExpectingFailure(const pki::NodeCredentials& credentials) {
    auto session = DialServer(credentials);
    EXPECT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
    EXPECT_FALSE(session->opened);
    return session;
  }

  pki::Validity ValidityFromNow(hours from, hours to) const {
    auto now = std::chrono::system_clock::now();
    return {now + from, now + to};
  }
};

TEST_F(RefusalTest, NoClientCertificate) {
  StartServer();
  auto context = RawTlsContext(TLS1_3_VERSION);
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(*RawConnect()), *context);
  bool handshake_done = false;
  stream.async_handshake(asio::ssl::stream_base::client,
                         [&](const asio::error_code&) { handshake_done = true; });
  ExpectRefusedWith(RefusalReason::kNoClientCertificate);
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, CertificateFromAnotherCa) {
  StartServer();
  // Same CA name, different CA key: only the signature check can tell them apart.
  TestFleet other("vigil-test-ca");
  pki::NodeCredentials foreign = other.Issue(pki::Role::kDevice, "device-foreign");
  auto session = DialExpectingFailure(
      pki::NodeCredentials{foreign.certificate, std::move(foreign.key), fleet_.ca_certificate()});
  ExpectRefusedWith(RefusalReason::kUnknownCa);
  EXPECT_TRUE(Contains(session->closed->message(), "refused by peer"))
      << session->closed->ToString();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, ExpiredCertificate) {
  StartServer();
  auto session = DialExpectingFailure(
      fleet_.Issue(pki::Role::kDevice, "device-old", ValidityFromNow(hours(-240), hours(-24))));
  ExpectRefusedWith(RefusalReason::kCertificateExpired);
  EXPECT_TRUE(Contains(session->closed->message(), "expired")) << session->closed->ToString();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, NotYetValidCertificate) {
  StartServer();
  DialExpectingFailure(
      fleet_.Issue(pki::Role::kDevice, "device-new", ValidityFromNow(hours(24), hours(240))));
  ExpectRefusedWith(RefusalReason::kCertificateNotYetValid);
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, WrongRoleForTheEndpoint) {
  StartServer();
  auto session = DialExpectingFailure(fleet_.Issue(pki::Role::kPublisher, "publisher-1"));
  ExpectRefusedWith(RefusalReason::kWrongRole);
  // The peer holds a valid fleet certificate, so it is told why.
  EXPECT_EQ(session->closed->code(), ErrorCode::kRefused);
  EXPECT_TRUE(Contains(session->closed->message(),
                       "role publisher (name publisher-1) not allowed on this endpoint"))
      << session->closed->ToString();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, OversizeFrame) {
  ServerOptions options = DefaultServerOptions();
  options.connection.frame_payload_bytes_max = 64 * 1024;
  StartServer(options);
  DialOptions dial = DefaultDialOptions();
  dial.connection.frame_payload_bytes_max = 1024 * 1024;
  auto session = DialServer(device_, dial);
  ASSERT_TRUE(WaitFor([&] { return session->opened; }));
  ASSERT_TRUE(session->connection->Send(kEchoType, Bytes(100 * 1024, 1)));
  ASSERT_TRUE(WaitFor([&] { return session->closed.has_value(); }));
  EXPECT_EQ(Refused(RefusalReason::kOversizeFrame), 1u) << server_->stats().DescribeRefusals();
  EXPECT_EQ(server_frames_, 0u);
  EXPECT_TRUE(Contains(session->closed->message(), "oversize frame"))
      << session->closed->ToString();
  ASSERT_TRUE(WaitFor([&] { return server_closed_.size() == 1; }));
  EXPECT_EQ(server_closed_[0].code(), ErrorCode::kResourceExhausted);
  ExpectServesGoodClient();
}

// A raw TLS client with a valid device certificate that writes arbitrary frame bytes after
// the handshake: what a buggy or hostile authenticated peer can do.
class RawFrameClient {
 public:
  RawFrameClient(asio::io_context& io_context, const std::shared_ptr<TlsContext>& tls,
                 const asio::ip::tcp::endpoint& server)
      : stream_(io_context, tls->context()) {
    asio::error_code error;
    stream_.next_layer().connect(server, error);
    EXPECT_FALSE(error) << error.message();
    stream_.async_handshake(asio::ssl::stream_base::client,
                            [this](const asio::error_code& handshake_error) {
                              handshake_error_ = handshake_error;
                              handshake_done_ = true;
                            });
  }
  bool handshake_done() const { return handshake_done_ && !handshake_error_; }
  void Write(const Bytes& bytes) {
    asio::async_write(stream_, asio::buffer(bytes), [](const asio::error_code&, size_t) {});
  }

 private:
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool handshake_done_ = false;
  asio::error_code handshake_error_;
};

TEST_F(RefusalTest, InvalidFrameTypesFromAnAuthenticatedPeer) {
  StartServer();
  auto tls = MakeTls(device_, TlsSide::kClient);
  std::vector<std::pair<Bytes, std::string>> cases = {
      {Bytes(64, 0), "type 0"},                                    // zero-filled garbage
      {EncodeFrame(7, ToBytes("x")), "type 7"},                    // reserved transport type
      {EncodeFrame(kFrameTypeHeartbeat, ToBytes("x")), "type 1"},  // heartbeat with payload
  };
  for (size_t index = 0; index < cases.size(); ++index) {
    RawFrameClient client(io_, tls, ServerEndpoint());
    ASSERT_TRUE(WaitFor([&] { return client.handshake_done(); }));
    client.Write(cases[index].first);
    ASSERT_TRUE(WaitFor([&] { return Refused(RefusalReason::kInvalidFrame) == index + 1; }))
        << cases[index].second << ": " << server_->stats().DescribeRefusals();
    ASSERT_TRUE(WaitFor([&] { return server_closed_.size() == index + 1; }));
    EXPECT_TRUE(Contains(server_closed_[index].message(), cases[index].second))
        << server_closed_[index].ToString();
  }
  EXPECT_EQ(server_frames_, 0u);
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, OversizeHeaderIsRefusedBeforeAnyPayloadArrives) {
  StartServer();
  RawFrameClient client(io_, MakeTls(device_, TlsSide::kClient), ServerEndpoint());
  ASSERT_TRUE(WaitFor([&] { return client.handshake_done(); }));
  // Only the header: a peer announcing 16 MiB must be refused without sending (or the
  // server buffering) a single payload byte.
  FrameHeaderBytes header = EncodeFrameHeader(kEchoType, limits::kFramePayloadBytesMax);
  client.Write(Bytes(header.begin(), header.end()));
  ASSERT_TRUE(WaitFor([&] { return Refused(RefusalReason::kOversizeFrame) == 1; }))
      << server_->stats().DescribeRefusals();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, GarbageBytesInsteadOfAClientHello) {
  StartServer();
  std::mt19937_64 random(3);
  Bytes noise(2048);
  for (auto& byte : noise) byte = static_cast<uint8_t>(random());
  std::vector<Bytes> garbage = {ToBytes("GET / HTTP/1.1\r\nHost: gateway\r\n\r\n"), Bytes(512, 0),
                                noise, ToBytes("SSH-2.0-OpenSSH_9.2\r\n")};
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> sockets;
  for (const Bytes& bytes : garbage) {
    sockets.push_back(RawConnect());
    asio::error_code error;
    asio::write(*sockets.back(), asio::buffer(bytes), error);
    ASSERT_FALSE(error) << error.message();
  }
  ASSERT_TRUE(WaitFor([&] { return server_->stats().refused_total() == garbage.size(); }))
      << server_->stats().DescribeRefusals();
  EXPECT_EQ(Refused(RefusalReason::kNotTls), garbage.size()) << server_->stats().DescribeRefusals();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, Tls12IsRefused) {
  StartServer();
  auto context = RawTlsContext(TLS1_2_VERSION);
  asio::ssl::stream<asio::ip::tcp::socket> stream(std::move(*RawConnect()), *context);
  std::optional<asio::error_code> result;
  stream.async_handshake(asio::ssl::stream_base::client,
                         [&](const asio::error_code& error) { result = error; });
  ExpectRefusedWith(RefusalReason::kProtocolVersion);
  ASSERT_TRUE(WaitFor([&] { return result.has_value(); }));
  EXPECT_TRUE(*result) << "a TLS 1.2 handshake must fail";
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, SlowLorisIsDroppedAtTheHandshakeDeadlineWithoutBlockingOthers) {
  ServerOptions options = DefaultServerOptions();
  options.connection.handshake_timeout = milliseconds(1000);
  StartServer(options);
  auto start = std::chrono::steady_clock::now();
  // One sends nothing, one a partial ClientHello, one dribbles a byte every 50 ms.
  auto silent = RawConnect();
  auto partial = RawConnect();
  Bytes partial_hello = {0x16, 0x03, 0x01, 0x00, 0xF0, 0x01, 0x00, 0x00, 0xEC, 0x03, 0x03};
  asio::write(*partial, asio::buffer(partial_hello));
  auto dribbler = RawConnect();
  asio::steady_timer dribble_timer(io_);
  size_t dribbled = 0;
  std::function<void()> dribble = [&] {
    if (dribbled >= partial_hello.size()) return;
    asio::error_code ignored;
    asio::write(*dribbler, asio::buffer(&partial_hello[dribbled++], 1), ignored);
    dribble_timer.expires_after(milliseconds(50));
    dribble_timer.async_wait([&](const asio::error_code& error) {
      if (!error) dribble();
    });
  };
  dribble();

  // While they hang, a good client is served without delay.
  ExpectServesGoodClient();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000))
      << "the good client should not wait for the slow ones";

  ASSERT_TRUE(WaitFor([&] { return Refused(RefusalReason::kHandshakeTimeout) == 3; }))
      << server_->stats().DescribeRefusals();
  EXPECT_EQ(server_->stats().refused_total(), 3u) << server_->stats().DescribeRefusals();
  EXPECT_EQ(server_->connection_count(), 0u);
  // The server closed the silent socket: reading from it ends.
  asio::error_code error;
  char byte;
  silent->read_some(asio::buffer(&byte, 1), error);
  EXPECT_TRUE(error == asio::error::eof || error == asio::error::connection_reset)
      << error.message();
  ExpectServesGoodClient();
}

TEST_F(RefusalTest, ManyBadPeersAtOnceDoNotDisturbGoodOnes) {
  ServerOptions options = DefaultServerOptions();
  options.connection.handshake_timeout = milliseconds(1000);
  StartServer(options);
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> attackers;
  for (int index = 0; index < 30; ++index) {
    attackers.push_back(RawConnect());
    if (index % 2 == 0) asio::write(*attackers.back(), asio::buffer(Bytes(100, 0xFF)));
  }
  std::vector<std::shared_ptr<SessionRecord>> expired;
  auto old = ValidityFromNow(hours(-240), hours(-24));
  for (int index = 0; index < 5; ++index) {
    expired.push_back(DialServer(fleet_.Issue(pki::Role::kDevice, "old", old)));
  }
  std::vector<std::shared_ptr<SessionRecord>> good;
  for (int index = 0; index < 10; ++index) good.push_back(DialServer(device_));
  ASSERT_TRUE(WaitFor([&] {
    for (auto& session : good) {
      if (!session->opened) return false;
    }
    return true;
  }));
  for (auto& session : good) ASSERT_TRUE(session->connection->Send(kEchoType, ToBytes("ok")));
  ASSERT_TRUE(WaitFor([&] {
    for (auto& session : good) {
      if (session->frames.empty()) return false;
    }
    return true;
  }));
  ASSERT_TRUE(WaitFor([&] { return server_->stats().refused_total() == 35; }))
      << server_->stats().DescribeRefusals();
  EXPECT_EQ(Refused(RefusalReason::kNotTls), 15u);
  EXPECT_EQ(Refused(RefusalReason::kHandshakeTimeout), 15u);
  EXPECT_EQ(Refused(RefusalReason::kCertificateExpired), 5u);
  EXPECT_EQ(server_opened_.size(), 10u);
}

}  // namespace
}  // namespace vigil::transport::testing
