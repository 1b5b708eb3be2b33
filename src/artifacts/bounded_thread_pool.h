// The artifact server's connection workers: cpp-httplib's task queue with a bound on the
// connections waiting for a worker.
//
// cpp-httplib 0.11's own ThreadPool appends every accepted connection to an unbounded list, so a
// flood of connections grows the server's memory without limit. This pool holds at most
// `queued_max` waiting connections; beyond that `enqueue` (called on the server's accept
// thread) blocks until a worker takes one, so further connections wait in the kernel's listen
// backlog, which the kernel bounds, instead of in this process.
//
//   server.new_task_queue = [] { return new BoundedThreadPool(8, 64); };
//
// Thread-safety: enqueue may be called from any thread; shutdown once, after the last enqueue
// (cpp-httplib calls it when its accept loop ends), runs the queued tasks and joins the workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace vigil::artifacts {

class BoundedThreadPool final : public httplib::TaskQueue {
 public:
  // `threads` ≥ 1 workers; `queued_max` ≥ 1 tasks waiting for one.
  BoundedThreadPool(size_t threads, size_t queued_max);
  ~BoundedThreadPool() override;
  BoundedThreadPool(const BoundedThreadPool&) = delete;
  BoundedThreadPool& operator=(const BoundedThreadPool&) = delete;

  // Queues `task`; blocks while `queued_max` tasks are already waiting.
  void enqueue(std::function<void()> task) override;
  // Lets the workers finish every queued task, then joins them.
  void shutdown() override;

  size_t queued() const;
  // The most tasks that ever waited at once (for tests and status).
  size_t queued_peak() const;

 private:
  void Work();

  const size_t queued_max_;
  mutable std::mutex mutex_;
  std::condition_variable task_ready_;  // a task was queued, or shutdown
  std::condition_variable room_ready_;  // a worker took a task
  std::deque<std::function<void()>> tasks_;
  size_t queued_peak_ = 0;
  bool shutting_down_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vigil::artifacts
