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
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + random() % 300));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int wait_status = 0;
    ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wait_status))
        << "the child exited early with status " << WEXITSTATUS(wait_status);
    uint64_t acknowledged = last_height;
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
  EXPECT_GT(last_height, static_cast<uint64_t>(kRounds)) << "the child made too little progress";
  std::printf("crash test: %d SIGKILLs, %llu blocks recovered intact\n", kRounds,
              static_cast<unsigned long long>(last_height));
}

}  // namespace
}  // namespace vigil::store
