// The systemd notify protocol against a real unix datagram socket set as NOTIFY_SOCKET: the
// daemon's READY=1 and its WATCHDOG=1 keep-alives from the Asio loop, which stop when the
// loop stops running.
#include "agent/service_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test_support/notify_socket.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using test_support::NotifySocket;

class ServiceNotifyTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void RunFor(milliseconds duration) {
    io_context_.run_for(duration);
    io_context_.restart();
  }
  test_support::TemporaryDirectory directory_{"vigil-notify"};
  asio::io_context io_context_;
};

TEST_F(ServiceNotifyTest, ReadyThenWatchdogKeepAlivesAtHalfTheTimeoutWhileTheLoopRuns) {
  const std::string path = (directory_.path() / "notify.sock").string();
  NotifySocket socket(path);
  ASSERT_TRUE(socket.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);  // 200 ms: keep-alives every 100 ms
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  ServiceNotifier notifier(io_context_);
  notifier.Ready("agent device-1 started");
  ASSERT_TRUE(notifier.keep_alive_period().has_value());
  EXPECT_EQ(*notifier.keep_alive_period(), microseconds(100'000));
  RunFor(milliseconds(450));
  auto messages = socket.Read();
  ASSERT_GE(messages.size(), 4u);
  EXPECT_EQ(messages[0], "READY=1\nSTATUS=agent device-1 started");
  size_t keep_alives = 0;
  for (size_t i = 1; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i], "WATCHDOG=1");
    keep_alives += messages[i] == "WATCHDOG=1";
  }
  EXPECT_GE(keep_alives, 4u);  // at 0, 100, 200, 300, 400 ms
  EXPECT_LE(keep_alives, 6u);
  // A stuck loop sends nothing more: systemd's watchdog then fires.
  ::usleep(300'000);
  EXPECT_TRUE(socket.Read().empty());
  notifier.Stopping();
  RunFor(milliseconds(250));
  EXPECT_EQ(socket.Read(), std::vector<std::string>{"STOPPING=1"});
}

TEST_F(ServiceNotifyTest, AbstractSocketNameAndNoWatchdogForAnotherPid) {
  const std::string name = "@vigil-notify-test-" + std::to_string(::getpid());
  NotifySocket socket(name);
  ASSERT_TRUE(socket.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  ServiceNotifier notifier(io_context_);
  notifier.Ready("up");
  EXPECT_FALSE(notifier.keep_alive_period().has_value());
  RunFor(milliseconds(150));
  EXPECT_EQ(socket.Read(), std::vector<std::string>{"READY=1\nSTATUS=up"});
}

TEST_F(ServiceNotifyTest, WithoutNotifySocketNothingIsSentAndNothingFails) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(NotifyServiceManager("READY=1"));
  ::setenv("NOTIFY_SOCKET", (directory_.path() / "nobody-listens.sock").c_str(), 1);
  auto sent = NotifyServiceManager("READY=1");
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message().find("nobody-listens.sock"), std::string::npos);
}

// A manager that does not read its socket fills its queue: further messages fail at once
// (reported), the daemon's loop is never stuck in sendto — it was, and `vigil peer` could not
// stop on SIGTERM.
TEST_F(ServiceNotifyTest, AFullQueueFailsTheMessageInsteadOfBlocking) {
  const std::string path = (directory_.path() / "unread.sock").string();
  NotifySocket socket(path);
  ASSERT_TRUE(socket.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  size_t refused = 0;
  for (int i = 0; i < 1000; ++i) refused += NotifyServiceManager("WATCHDOG=1") ? 0 : 1;
  EXPECT_GT(refused, 0u);
  std::vector<std::string> queued = socket.Read();
  EXPECT_EQ(queued.size() + refused, 1000u);
  EXPECT_TRUE(NotifyServiceManager("STOPPING=1"));  // room again once read
}

TEST(WatchdogPeriodTest, HalfOfWatchdogUsecForThisProcessOnly) {
  EXPECT_EQ(WatchdogKeepAlivePeriod("30000000", nullptr, 42), microseconds(15'000'000));
  EXPECT_EQ(WatchdogKeepAlivePeriod("30000000", "42", 42), microseconds(15'000'000));
  EXPECT_FALSE(WatchdogKeepAlivePeriod("30000000", "43", 42));
  EXPECT_FALSE(WatchdogKeepAlivePeriod(nullptr, "42", 42));
  EXPECT_FALSE(WatchdogKeepAlivePeriod("", nullptr, 42));
  EXPECT_FALSE(WatchdogKeepAlivePeriod("12x", nullptr, 42));
  EXPECT_FALSE(WatchdogKeepAlivePeriod("-5", nullptr, 42));
  EXPECT_FALSE(WatchdogKeepAlivePeriod("0", nullptr, 42));
}

}  // namespace
}  // namespace vigil
