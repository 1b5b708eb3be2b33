#pragma once
// Chunk requests waiting for the gateway's send budget (limits::kGatewayQueuedBytesMax), served
// download by download: every waiting request of the download that began first goes before any
// of the next one, and one download's requests keep the order they were asked in.
//
// Why not a plain FIFO: 1,000 devices asking at once would be served round robin and every
// download would finish together at the very end. Served in the order they began, the first
// device has its bundle after its own share of the link and installs it while the others still
// download; the last one finishes no later than before.
//
// Pure: no I/O, no clock. `Item` is what the gateway needs to serve a request later.

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

namespace vigil::gateway {

template <typename Item>
class DownloadQueue {
 public:
  // A rank for a download that begins now (a session asking for a bundle other than its last).
  uint64_t BeginDownload() { return ++downloads_begun_; }

  void Push(uint64_t rank, Item item) {
    waiting_.emplace(std::pair{rank, ++arrivals_}, std::move(item));
  }

  bool empty() const { return waiting_.empty(); }
  std::size_t size() const { return waiting_.size(); }

  // The oldest request of the earliest-begun download. Requires !empty().
  Item PopNext() {
    auto first = waiting_.begin();
    Item item = std::move(first->second);
    waiting_.erase(first);
    return item;
  }

 private:
  std::map<std::pair<uint64_t, uint64_t>, Item> waiting_;  // (rank, arrival) → item
  uint64_t downloads_begun_ = 0;
  uint64_t arrivals_ = 0;
};

}  // namespace vigil::gateway
