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

#include <chrono>
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
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(report[0]);
      CommitForever(path, report[1]);
    }
    ::close(report[1]);
    uint64_t acknowledged = last_height;
    // Wait for the child's first report, so that a slow start on a loaded machine does not
    // turn a round into a kill before anything happened.
    if (uint64_t first = 0; ::read(report[0], &first, sizeof first) == sizeof first) {
      acknowledged = first;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int wait_status = 0;
    ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wait_status))
        << "the child exited early with status " << WEXITSTATUS(wait_status);
    for (uint64_t height = 0; ::read(report[0], &height, sizeof height) == sizeof height;) {
      acknowledged = height;
    }
    ::close(report[0]);

    auto store = BlockStore::Open(path, {});
    ASSERT_TRUE(store) << store.error().ToString();
    uint64_t recovered = (*store)->LastHeight().value();
    // Every commit that returned is there; at most one more (committed, not yet reported).
    EXPECT_GE(recovered, acknowledged) << "round " << round;
    EXPECT_LE(recovered, acknowledged + 1) << "round " << round;
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
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(report[0]);
      SaveForever(path, report[1]);
    }
    ::close(report[1]);
    uint64_t sent = last_saved;
    // Wait for the child's first report, so that a slow start on a loaded machine does not
    // turn a round into a kill before anything happened.
    if (uint64_t first = 0; ::read(report[0], &first, sizeof first) == sizeof first) {
      sent = first;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 100));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int wait_status = 0;
    ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wait_status)) << "the child exited with " << WEXITSTATUS(wait_status);
    for (uint64_t counter = 0; ::read(report[0], &counter, sizeof counter) == sizeof counter;) {
      sent = counter;
    }
    ::close(report[0]);
    auto store = BlockStore::Open(path, {});
    ASSERT_TRUE(store) << store.error().ToString();
    auto loaded = (*store)->LoadConsensusState().value();
    ASSERT_TRUE(loaded.has_value());
    ASSERT_EQ(loaded->size(), 600u);
    uint64_t saved = 0;
    std::memcpy(&saved, loaded->data(), sizeof saved);
    EXPECT_GE(saved, sent) << "round " << round << ": a sent state was lost";
    EXPECT_LE(saved, sent + 1) << "round " << round;
    last_saved = saved;
  }
  EXPECT_GE(last_saved, 8u);  // at least one save a round
}

}  // namespace
}  // namespace vigil::store
