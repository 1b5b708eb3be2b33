// 1,000 mutually authenticated sessions open at the same time on loopback, each exchanging a
// frame. The server runs on its own thread and io_context, the clients on the test thread.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <asio/post.hpp>
#include <thread>

#include "session_fixture.h"

namespace vigil::transport::testing {
namespace {

using std::chrono::milliseconds;

constexpr size_t kSessions = 1000;
// Handshakes in flight at once: enough to keep both threads busy without SYN floods.
constexpr size_t kDialWindow = 64;

void RaiseFileLimit(rlim_t wanted) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, wanted) << "raise the hard limit on open files (ulimit -Hn)";
}

TEST(LoadTest, ThousandConcurrentMutuallyAuthenticatedSessions) {
  // Two sockets per session in this one process, plus slack.
  RaiseFileLimit(2 * kSessions + 256);
  TestFleet fleet;
  pki::NodeCredentials gateway = fleet.Issue(pki::Role::kGateway, "gateway-load");
  pki::NodeCredentials device = fleet.Issue(pki::Role::kDevice, "device-load");

  asio::io_context server_io;
  ServerOptions server_options;
  server_options.connections_max = kSessions + 10;
  server_options.connection.allowed_peer_roles = {pki::Role::kDevice};
  server_options.connection.handshake_timeout = milliseconds(30000);
  Handlers server_handlers;
  server_handlers.on_frame = [](const ConnectionPointer& connection, FrameType type,
                                ByteSpan payload) { EXPECT_TRUE(connection->Send(type, payload)); };
  auto server = Server::Create(server_io, MakeTls(gateway, TlsSide::kServer), server_options,
                               server_handlers);
  ASSERT_TRUE(server) << server.error().ToString();
  const EndpointStats& server_stats = (*server)->stats();
  auto work = asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run_for(std::chrono::seconds(120)); });

  asio::io_context client_io;
  auto client_tls = MakeTls(device, TlsSide::kClient);
  DialOptions dial_options;
  dial_options.port = (*server)->port();
  dial_options.connection.allowed_peer_roles = {pki::Role::kGateway};
  dial_options.connection.handshake_timeout = milliseconds(30000);
  dial_options.stats = std::make_shared<EndpointStats>();

  std::vector<ConnectionPointer> connections;
  size_t dialed = 0, opened = 0, echoed = 0, in_flight = 0;
  std::vector<Error> failures;
  size_t open_when_all_echoed = 0;
  Handlers handlers;
  handlers.on_open = [&](const ConnectionPointer& connection) {
    ++opened;
    --in_flight;
    uint64_t index = opened;
    Bytes payload(sizeof(index));
    std::memcpy(payload.data(), &index, sizeof(index));
    EXPECT_TRUE(connection->Send(kEchoType, std::move(payload)));
  };
  handlers.on_frame = [&](const ConnectionPointer&, FrameType, ByteSpan payload) {
    EXPECT_EQ(payload.size(), sizeof(uint64_t));
    if (++echoed == kSessions) {
      open_when_all_echoed =
          server_stats.sessions_opened.load() - server_stats.sessions_closed.load();
    }
  };
  handlers.on_close = [&](const ConnectionPointer& connection, const Error& reason) {
    if (!connection->peer_identity().name.empty() && echoed == kSessions) return;  // our own close
    --in_flight;
    failures.push_back(reason);
  };
  auto dial_more = [&] {
    while (dialed < kSessions && in_flight < kDialWindow) {
      connections.push_back(Dial(client_io, client_tls, dial_options, handlers));
      ++dialed;
      ++in_flight;
    }
  };
  auto start = std::chrono::steady_clock::now();
  bool done = RunUntil(
      client_io,
      [&] {
        dial_more();
        return echoed == kSessions || !failures.empty();
      },
      milliseconds(60000));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(failures.empty()) << failures.size()
                                << " sessions failed, first: " << failures[0].ToString();
  ASSERT_TRUE(done) << "opened " << opened << ", echoed " << echoed;
  EXPECT_EQ(open_when_all_echoed, kSessions) << "all sessions must be open at the same time";
  EXPECT_EQ(server_stats.refused_total(), 0u) << server_stats.DescribeRefusals();
  std::cout << "[ load     ] " << kSessions << " sessions opened and echoed in "
            << std::chrono::duration_cast<milliseconds>(elapsed).count() << " ms\n";

  for (auto& connection : connections) connection->Close("load test done");
  ASSERT_TRUE(RunUntil(
      client_io, [&] { return server_stats.sessions_closed.load() == kSessions; },
      milliseconds(30000)))
      << server_stats.sessions_closed.load();
  asio::post(server_io, [&] {
    (*server).reset();
    work.reset();
  });
  server_thread.join();
}

}  // namespace
}  // namespace vigil::transport::testing
