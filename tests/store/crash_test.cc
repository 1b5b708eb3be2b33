// Crash safety (docs/storage.md#crash-safety): a child process commits blocks of the synthetic
// chain as fast as it can and is killed with SIGKILL at a random moment, round after round;
// after each kill the store must hold a complete prefix of the chain, every block with all its
// transactions and state writes, including every block whose commit had returned.
//
// SIGKILL loses the process, not the operating system's page cache, so this checks atomicity
// and process-crash durability; power loss is covered by synchronous=FULL (SQLite's own
// guarantee, see docs/storage.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <cstring>
#include <random>
#include <thread>

#include "store/block_store.h"
#include "test_chain.h"

namespace vigil::store {
namespace {

using testing::MakeCommit;
using testing::TemporaryDirectory;
using testing::VerifyChain;

// Forks a child that runs `child_body(report_fd)` (writing u64 progress values to the pipe and
// never returning), waits for its first report, lets it run for up to `run_time_max`, kills it
// with SIGKILL, and returns the last value it reported (or `last_reported` if none). Returns
// nullopt, after recording a test failure, when the round itself went wrong.
std::optional<uint64_t> RunChildUntilKilled(const std::function<void(int)>& child_body,
                                            uint64_t last_reported,
                                            std::chrono::milliseconds run_time_max,
                                            std::mt19937_64& random) {
  int report[2];
  if (::pipe(report) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return std::nullopt;
  }
  pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return std::nullopt;
  }
  if (child == 0) {
    ::close(report[0]);
    child_body(report[1]);
    _exit(6);  // child bodies never return
  }
  ::close(report[1]);
  uint64_t reported = last_reported;
  // Wait for the child's first report, so that a slow start on a loaded machine does not
  // turn a round into a kill before anything happened.
  if (uint64_t first = 0; ::read(report[0], &first, sizeof first) == sizeof first) {
    reported = first;
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(random() % static_cast<uint64_t>(run_time_max.count())));
  int wait_status = 0;
  bool killed = ::kill(child, SIGKILL) == 0 && ::waitpid(child, &wait_status, 0) == child &&
                WIFSIGNALED(wait_status);
  for (uint64_t value = 0; ::read(report[0], &value, sizeof value) == sizeof value;) {
    reported = value;
  }
  ::close(report[0]);
  if (!killed) {
    ADD_FAILURE() << "the child was not killed by SIGKILL (it exited with status "
                  << WEXITSTATUS(wait_status) << ")";
    return std::nullopt;
  }
  return reported;
}

// The child: reopen, continue the chain, report each returned commit's height on `report_fd`.
[[noreturn]] void CommitForever(const std::filesystem::path& path, int report_fd) {
  auto store = BlockStore::Open(path, {});
  if (!store) _exit(2);
  auto last = (*store)->LastHeight();
  if (!last) _exit(3);
  for (uint64_t height = *last + 1;; ++height) {
    if (!(*store)->CommitBlock(MakeCommit(height))) _exit(4);
    if (::write(report_fd, &height, sizeof height) != sizeof height) _exit(5);
  }
}

TEST(StoreCrashTest, SigkillAtRandomMomentsLeavesTheLastCommittedBlockIntact) {
  TemporaryDirectory directory;
  const std::filesystem::path path = directory.path() / "ledger.sqlite3";
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  constexpr int kRounds = 12;
  uint64_t last_height = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::optional<uint64_t> acknowledged = RunChildUntilKilled(
        [&](int report_fd) { CommitForever(path, report_fd); }, last_height,
        std::chrono::milliseconds(300), random);
    ASSERT_TRUE(acknowledged.has_value()) << "round " << round;

    auto store = BlockStore::Open(path, {});
    ASSERT_TRUE(store) << store.error().ToString();
    uint64_t recovered = (*store)->LastHeight().value();
    // Every commit that returned is there; at most one more (committed, not yet reported).
    EXPECT_GE(recovered, *acknowledged) << "round " << round;
    EXPECT_LE(recovered, *acknowledged + 1) << "round " << round;
    ASSERT_EQ(VerifyChain(**store, recovered), "") << "round " << round;
    last_height = recovered;
  }
  EXPECT_GE(last_height, static_cast<uint64_t>(kRounds)) << "the child made too little progress";
  std::printf("crash test: %d SIGKILLs, %llu blocks recovered intact\n", kRounds,
              static_cast<unsigned long long>(last_height));
}

// The consensus engine's half of persist-before-send: the child saves a new signing state and
// only then "sends" it (reports it on the pipe). After SIGKILL the store must hold a state at
// least as new as every one that was sent, so a restarted validator knows about every vote
// that left the process.
[[noreturn]] void SaveForever(const std::filesystem::path& path, int report_fd) {
  auto store = BlockStore::Open(path, {});
  if (!store) _exit(2);
  auto loaded = (*store)->LoadConsensusState();
  if (!loaded) _exit(3);
  uint64_t counter = 0;
  if (*loaded) std::memcpy(&counter, (*loaded)->data(), sizeof counter);
  for (;;) {
    ++counter;
    Bytes state(600, 0x11);  // about the size of a DurableState with its votes
    std::memcpy(state.data(), &counter, sizeof counter);
    if (!(*store)->SaveConsensusState(state)) _exit(4);
    if (::write(report_fd, &counter, sizeof counter) != sizeof counter) _exit(5);
  }
}

TEST(StoreCrashTest, ASavedConsensusStateSurvivesSigkillBeforeItIsSent) {
  TemporaryDirectory directory;
  const std::filesystem::path path = directory.path() / "ledger.sqlite3";
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  uint64_t last_saved = 0;
  for (int round = 0; round < 8; ++round) {
    std::optional<uint64_t> sent = RunChildUntilKilled(
        [&](int report_fd) { SaveForever(path, report_fd); }, last_saved,
        std::chrono::milliseconds(100), random);
    ASSERT_TRUE(sent.has_value()) << "round " << round;
    auto store = BlockStore::Open(path, {});
    ASSERT_TRUE(store) << store.error().ToString();
    auto loaded = (*store)->LoadConsensusState().value();
    ASSERT_TRUE(loaded.has_value());
    ASSERT_EQ(loaded->size(), 600u);
    uint64_t saved = 0;
    std::memcpy(&saved, loaded->data(), sizeof saved);
    EXPECT_GE(saved, *sent) << "round " << round << ": a sent state was lost";
    EXPECT_LE(saved, *sent + 1) << "round " << round;
    last_saved = saved;
  }
  EXPECT_GE(last_saved, 8u);  // at least one save a round
}

}  // namespace
}  // namespace vigil::store
