// The etcd driver: its HTTP framing on known bytes, its refusals, and short runs against real
// etcd processes (skipped when etcd is not installed: `apt-get install etcd-server`).
#include "bench/etcd_load.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "test_support/temporary_directory.h"

namespace vigil::bench {
namespace {

using std::chrono::seconds;

// --- HTTP framing (pure). ---

constexpr std::string_view kPutReply =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Grpc-Metadata-Content-Type: application/grpc\r\n"
    "Date: Sun, 22 Nov 2026 08:00:00 GMT\r\n"
    "Content-Length: 27\r\n"
    "\r\n"
    R"({"header":{"revision":"7"}})";

TEST(HttpResponseTest, ContentLengthResponse) {
  auto head = ParseHttpResponse(kPutReply);
  ASSERT_TRUE(head.has_value()) << head.error().ToString();
  ASSERT_TRUE(head->has_value());
  EXPECT_EQ((*head)->status, 200);
  EXPECT_EQ((*head)->message_bytes, kPutReply.size());
  EXPECT_TRUE((*head)->keep_alive);
  EXPECT_FALSE((*head)->chunked);
  EXPECT_EQ(HttpResponseBody(kPutReply, **head), R"({"header":{"revision":"7"}})");
}

TEST(HttpResponseTest, EveryPrefixIsIncomplete) {
  for (size_t size = 0; size < kPutReply.size(); ++size) {
    auto head = ParseHttpResponse(kPutReply.substr(0, size));
    ASSERT_TRUE(head.has_value()) << size << ": " << head.error().ToString();
    EXPECT_FALSE(head->has_value()) << size;
  }
}

TEST(HttpResponseTest, ChunkedResponseWithExtensionAndTrailer) {
  std::string message =
      "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n"
      "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t size = 0; size < message.size(); ++size) {
    auto partial = ParseHttpResponse(std::string_view(message).substr(0, size));
    ASSERT_TRUE(partial.has_value()) << size << ": " << partial.error().ToString();
    EXPECT_FALSE(partial->has_value()) << size;
  }
  auto head = ParseHttpResponse(message);
  ASSERT_TRUE(head.has_value() && head->has_value());
  EXPECT_EQ((*head)->status, 503);
  EXPECT_TRUE((*head)->chunked);
  EXPECT_FALSE((*head)->keep_alive);
  EXPECT_EQ((*head)->message_bytes, message.size());
  EXPECT_EQ(HttpResponseBody(message, **head), "hello, world");
}

TEST(HttpResponseTest, NoBodyStatusesAndHttp10) {
  auto no_content = ParseHttpResponse("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(no_content.has_value() && no_content->has_value());
  EXPECT_EQ((*no_content)->message_bytes, (*no_content)->header_bytes);
  auto old = ParseHttpResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(old.has_value() && old->has_value());
  EXPECT_FALSE((*old)->keep_alive);
}

TEST(HttpResponseTest, RefusesWhatCannotBeAResponse) {
  for (std::string_view bad : {
           "SSH-2.0-OpenSSH\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\n\r\n",  // no length: would run to the end of the connection
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
       }) {
    auto head = ParseHttpResponse(bad);
    ASSERT_FALSE(head.has_value()) << bad;
    EXPECT_EQ(head.error().code(), ErrorCode::kCorruption) << bad;
  }
  // Endless headers are refused once they pass the limit, not buffered forever.
  std::string endless = "HTTP/1.1 200 OK\r\n" + std::string(kHttpResponseBytesMax, 'x');
  EXPECT_FALSE(ParseHttpResponse(endless).has_value());
}

// --- Refusals. ---

TEST(RunEtcdLoadTest, RefusesSpecsOutsideTheLimits) {
  test_support::TemporaryDirectory directory("etcd-load");
  LoadSpec load{.duration = seconds(1), .warmup = seconds(0)};
  EXPECT_EQ(RunEtcdLoad({.directory = directory.path(), .members = 0}, load).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(RunEtcdLoad({.directory = directory.path(), .members = kEtcdMembersMax + 1}, load)
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  LoadSpec no_connections = load;
  no_connections.concurrency = 0;
  EXPECT_EQ(RunEtcdLoad({.directory = directory.path()}, no_connections).error().code(),
            ErrorCode::kInvalidArgument);
  LoadSpec no_window = load;
  no_window.duration = seconds(0);
  EXPECT_EQ(RunEtcdLoad({.directory = directory.path()}, no_window).error().code(),
            ErrorCode::kInvalidArgument);
  // Nothing was started, so nothing was written.
  EXPECT_TRUE(std::filesystem::is_empty(directory.path()));
}

// --- Real etcd. ---

bool EtcdInstalled() { return ::access("/usr/bin/etcd", X_OK) == 0; }

// Processes whose command line mentions `text` (an etcd member of this test's directory).
int ProcessesMentioning(const std::string& text) {
  int found = 0;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ignored)) {
    std::ifstream file(entry.path() / "cmdline", std::ios::binary);
    std::string command_line((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
    if (command_line.find(text) != std::string::npos) ++found;
  }
  return found;
}

void ExpectSaneRun(const LoadResult& result, const LoadSpec& load) {
  SCOPED_TRACE(FormatLoadResult(result));
  ::testing::Test::RecordProperty("result", FormatLoadResult(result));
  EXPECT_GT(result.committed, 0u);
  EXPECT_EQ(result.failed, 0u) << result.first_failure;
  EXPECT_EQ(result.submitted, result.committed + result.failed);
  EXPECT_DOUBLE_EQ(result.seconds, static_cast<double>(load.duration.count()));
  EXPECT_DOUBLE_EQ(result.throughput_per_second,
                   static_cast<double>(result.committed) / result.seconds);
  EXPECT_GT(result.latency_p50_ms, 0);
  EXPECT_LE(result.latency_p50_ms, result.latency_p99_ms);
  EXPECT_LE(result.latency_p99_ms, result.latency_max_ms);
  double timeout_ms = std::chrono::duration<double, std::milli>(kEtcdRequestTimeout).count();
  EXPECT_LT(result.latency_max_ms, timeout_ms);
  EXPECT_GT(result.driver_cpu_seconds, 0);
  EXPECT_LT(result.driver_cpu_seconds, result.seconds * 1.05);  // one thread
}

class RealEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdInstalled()) GTEST_SKIP() << "etcd is not installed (apt-get install etcd-server)";
  }
  test_support::TemporaryDirectory directory_{"etcd-load"};
};

TEST_F(RealEtcdTest, OneMemberClosedLoop) {
  LoadSpec load{.duration = seconds(5), .warmup = seconds(1), .concurrency = 32};
  auto result = RunEtcdLoad({.directory = directory_.path(), .members = 1}, load);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->system.find("etcd 3.4"), 0u) << result->system;
  EXPECT_NE(result->system.find("(1 member)"), std::string::npos) << result->system;
  ExpectSaneRun(*result, load);
  EXPECT_EQ(result->not_sent, 0u);
  // The members are gone, their data and logs stay.
  EXPECT_EQ(ProcessesMentioning(directory_.path().string()), 0);
  EXPECT_TRUE(std::filesystem::exists(directory_.path() / "etcd-1" / "member" / "wal"));
  EXPECT_TRUE(std::filesystem::exists(directory_.path() / "etcd-1.log"));
}

TEST_F(RealEtcdTest, ThreeMembersClosedLoop) {
  LoadSpec load{.duration = seconds(5), .warmup = seconds(1), .concurrency = 64};
  auto result = RunEtcdLoad({.directory = directory_.path(), .members = 3}, load);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_NE(result->system.find("(3 members)"), std::string::npos) << result->system;
  ExpectSaneRun(*result, load);
  EXPECT_EQ(ProcessesMentioning(directory_.path().string()), 0);
}

TEST_F(RealEtcdTest, ThreeMembersOpenLoopSendsWhatIsDue) {
  // 200 /s for 3 s is far below what etcd sustains: every due request is sent and committed.
  LoadSpec load{
      .duration = seconds(3), .warmup = seconds(1), .offered_per_second = 200, .concurrency = 16};
  auto result = RunEtcdLoad({.directory = directory_.path(), .members = 3}, load);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  ExpectSaneRun(*result, load);
  EXPECT_EQ(result->submitted, 600u);
  EXPECT_EQ(result->not_sent, 0u);
  EXPECT_NEAR(result->throughput_per_second, 200, 1);
}

TEST_F(RealEtcdTest, RefusesADirectoryThatHoldsAMember) {
  std::filesystem::create_directories(directory_.path() / "etcd-1");
  LoadSpec load{.duration = seconds(1), .warmup = seconds(0)};
  auto result = RunEtcdLoad({.directory = directory_.path(), .members = 1}, load);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kAlreadyExists);
}

// An `etcd` earlier in PATH that exits at once: the error says so and quotes its log.
TEST(RunEtcdLoadTest, AMemberThatExitsIsReportedWithItsLog) {
  test_support::TemporaryDirectory directory("etcd-load");
  std::filesystem::path fake = directory.path() / "bin" / "etcd";
  std::filesystem::create_directories(fake.parent_path());
  std::ofstream(fake) << "#!/bin/sh\necho \"fake etcd: refusing to start\" >&2\nexit 3\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (fake.parent_path().string() + ":" + saved_path).c_str(), 1);
  LoadSpec load{.duration = seconds(1), .warmup = seconds(0)};
  auto result = RunEtcdLoad({.directory = directory.path() / "cluster", .members = 1}, load);
  ::setenv("PATH", saved_path.c_str(), 1);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message().find("etcd-1 exited with status 3"), std::string::npos)
      << result.error().ToString();
  EXPECT_NE(result.error().message().find("fake etcd: refusing to start"), std::string::npos)
      << result.error().ToString();
}

}  // namespace
}  // namespace vigil::bench
