// Health checks against real processes and sockets: each check passing and failing, with its
// reason.
#include "agent/health_check.h"

#include <gtest/gtest.h>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <optional>

#include "common/file.h"
#include "test_support/temporary_directory.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class HealthCheckTest : public ::testing::Test {
 protected:
  void WriteScript(const std::string& name, const std::string& body) {
    std::string text = "#!/bin/sh\n" + body + "\n";
    ASSERT_TRUE(WriteFileAtomically(directory_.path() / name, AsBytes(text), 0755));
  }
  HealthCheckSpec Spec() {
    HealthCheckSpec spec;
    spec.directory = directory_.path();
    spec.timeout = milliseconds(1'000);
    return spec;
  }
  // Runs the check to its end (10 s limit) and returns its result.
  Status Run(HealthCheckSpec spec, AppExitProbe probe = nullptr) {
    std::optional<Status> result;
    RunHealthCheck(io_context_, std::move(spec), std::move(probe),
                   [&](Status status) { result = std::move(status); });
    auto deadline = Clock::now() + milliseconds(10'000);
    while (!result && Clock::now() < deadline) {
      io_context_.run_for(milliseconds(10));
      io_context_.restart();
    }
    if (!result) return Fail(ErrorCode::kInternal, "test: the health check never finished");
    return *result;
  }
  uint16_t ClosedPort() {
    asio::ip::tcp::acceptor acceptor(io_context_,
                                     {asio::ip::address_v4::loopback(), 0});
    return acceptor.local_endpoint().port();
  }

  test_support::TemporaryDirectory directory_{"vigil-health"};
  asio::io_context io_context_;
};

TEST_F(HealthCheckTest, EmptySpecPassesAtOnce) { EXPECT_TRUE(Run(Spec())); }

TEST_F(HealthCheckTest, StayUpPassesAfterItsWindowAndFailsWhenTheAppExits) {
  HealthCheckSpec spec = Spec();
  spec.stay_up = milliseconds(300);
  auto begin = Clock::now();
  EXPECT_TRUE(Run(spec, [] { return std::nullopt; }));
  EXPECT_GE(Clock::now() - begin, milliseconds(300));

  auto exits_at = Clock::now() + milliseconds(150);
  Status failed = Run(spec, [&]() -> std::optional<std::string> {
    if (Clock::now() < exits_at) return std::nullopt;
    return "exited with code 1";
  });
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("exited with code 1"), std::string::npos)
      << failed.error().message();
}

TEST_F(HealthCheckTest, CommandMustExitZeroWithinTheTimeout) {
  WriteScript("ok.sh", "test -f ok.sh");  // runs in the slot directory
  WriteScript("bad.sh", "exit 1");
  WriteScript("slow.sh", "exec sleep 30");
  HealthCheckSpec spec = Spec();
  spec.command = {"./ok.sh"};
  EXPECT_TRUE(Run(spec));

  spec.command = {"./bad.sh"};
  Status bad = Run(spec);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("exited with code 1"), std::string::npos)
      << bad.error().message();

  spec.command = {"./slow.sh"};
  spec.timeout = milliseconds(300);
  auto begin = Clock::now();
  Status slow = Run(spec);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), ErrorCode::kTimeout);
  EXPECT_LT(Clock::now() - begin, milliseconds(3'000));
}

TEST_F(HealthCheckTest, PortMustAcceptAConnectionAndIsRetriedUntilTheDeadline) {
  asio::ip::tcp::acceptor listening(io_context_, {asio::ip::address_v4::loopback(), 0});
  HealthCheckSpec spec = Spec();
  spec.tcp_port = listening.local_endpoint().port();
  EXPECT_TRUE(Run(spec));

  spec.tcp_port = ClosedPort();
  Status closed = Run(spec);
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().message().find("port " + std::to_string(spec.tcp_port)),
            std::string::npos)
      << closed.error().message();

  // A server that starts listening 300 ms into the check passes it.
  uint16_t late_port = ClosedPort();
  std::optional<asio::ip::tcp::acceptor> late;
  asio::steady_timer opener(io_context_, milliseconds(300));
  opener.async_wait([&](std::error_code) {
    late.emplace(io_context_, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), late_port));
  });
  spec.tcp_port = late_port;
  spec.timeout = milliseconds(3'000);
  EXPECT_TRUE(Run(spec));
}

TEST_F(HealthCheckTest, AllChecksMustPass) {
  asio::ip::tcp::acceptor listening(io_context_, {asio::ip::address_v4::loopback(), 0});
  WriteScript("bad.sh", "exit 2");
  HealthCheckSpec spec = Spec();
  spec.stay_up = milliseconds(100);
  spec.tcp_port = listening.local_endpoint().port();
  spec.command = {"./bad.sh"};
  Status status = Run(spec, [] { return std::nullopt; });
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message().find("exited with code 2"), std::string::npos);
}

}  // namespace
}  // namespace vigil::agent
