#include "artifacts/bounded_thread_pool.h"

#include <algorithm>
#include <utility>

#include "common/assert.h"

namespace vigil::artifacts {

BoundedThreadPool::BoundedThreadPool(size_t threads, size_t queued_max)
    : queued_max_(queued_max) {
  VIGIL_ASSERT(threads >= 1 && queued_max >= 1);
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

BoundedThreadPool::~BoundedThreadPool() { shutdown(); }

void BoundedThreadPool::enqueue(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  room_ready_.wait(lock, [this] { return tasks_.size() < queued_max_ || shutting_down_; });
  tasks_.push_back(std::move(task));
  queued_peak_ = std::max(queued_peak_, tasks_.size());
  lock.unlock();
  task_ready_.notify_one();
}

void BoundedThreadPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_ && workers_.empty()) return;
    shutting_down_ = true;
  }
  task_ready_.notify_all();
  room_ready_.notify_all();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

size_t BoundedThreadPool::queued() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

size_t BoundedThreadPool::queued_peak() const {
  std::lock_guard lock(mutex_);
  return queued_peak_;
}

void BoundedThreadPool::Work() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      task_ready_.wait(lock, [this] { return !tasks_.empty() || shutting_down_; });
      if (tasks_.empty()) return;  // shutting down with nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    room_ready_.notify_one();
    task();
  }
}

}  // namespace vigil::artifacts
