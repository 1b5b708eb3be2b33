// The artifact server's bounded connection queue (artifacts/bounded_thread_pool.h): every task
// runs, no more than the bound ever waits, a full queue blocks the caller until a worker takes a
// task, and shutdown runs what was queued.
#include "artifacts/bounded_thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace vigil::artifacts {
namespace {

using std::chrono::milliseconds;

TEST(BoundedThreadPoolTest, RunsEveryTaskAndNeverQueuesMoreThanTheBound) {
  std::atomic<int> ran{0};
  {
    BoundedThreadPool pool(2, 4);
    for (int i = 0; i < 200; ++i) {
      pool.enqueue([&ran] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++ran;
      });
      EXPECT_LE(pool.queued(), 4u);
    }
    pool.shutdown();
    EXPECT_LE(pool.queued_peak(), 4u);
    EXPECT_GE(pool.queued_peak(), 1u);
  }
  EXPECT_EQ(ran.load(), 200);
}

TEST(BoundedThreadPoolTest, AFullQueueBlocksTheCallerUntilAWorkerTakesATask) {
  BoundedThreadPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  auto blocked_task = [released, &ran] {
    released.wait();
    ++ran;
  };
  pool.enqueue(blocked_task);  // the worker takes it and waits
  while (pool.queued() != 0) std::this_thread::sleep_for(milliseconds(1));
  pool.enqueue(blocked_task);
  pool.enqueue(blocked_task);  // the queue is full now
  EXPECT_EQ(pool.queued(), 2u);

  std::atomic<bool> returned{false};
  std::thread caller([&] {
    pool.enqueue([&ran] { ++ran; });
    returned = true;
  });
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(returned.load()) << "enqueue returned while the queue was full";
  EXPECT_EQ(pool.queued(), 2u);

  release.set_value();
  caller.join();
  EXPECT_TRUE(returned.load());
  pool.shutdown();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_EQ(pool.queued_peak(), 2u);
}

TEST(BoundedThreadPoolTest, ShutdownRunsWhatWasQueuedAndMayBeRepeated) {
  std::atomic<int> ran{0};
  BoundedThreadPool pool(1, 8);
  for (int i = 0; i < 8; ++i) pool.enqueue([&ran] { ++ran; });
  pool.shutdown();
  EXPECT_EQ(ran.load(), 8);
  pool.shutdown();  // cpp-httplib shuts down, then the destructor does again
  EXPECT_EQ(pool.queued(), 0u);
}

}  // namespace
}  // namespace vigil::artifacts
