// The gateway's wait queue for chunk requests: download by download, in the order asked.
#include "gateway/download_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vigil::gateway {
namespace {

std::vector<std::string> Drain(DownloadQueue<std::string>& queue) {
  std::vector<std::string> served;
  while (!queue.empty()) served.push_back(queue.PopNext());
  return served;
}

TEST(DownloadQueueTest, TheDownloadThatBeganFirstIsServedFirstWhateverTheArrivalOrder) {
  DownloadQueue<std::string> queue;
  uint64_t first = queue.BeginDownload();
  uint64_t second = queue.BeginDownload();
  uint64_t third = queue.BeginDownload();
  // Interleaved as 3 devices asking at once would send them (a FIFO would serve them so).
  queue.Push(third, "c0");
  queue.Push(second, "b0");
  queue.Push(first, "a0");
  queue.Push(third, "c1");
  queue.Push(first, "a1");
  queue.Push(second, "b1");
  EXPECT_EQ(queue.size(), 6u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"a0", "a1", "b0", "b1", "c0", "c1"}));
}

TEST(DownloadQueueTest, AnEarlierDownloadsNewRequestGoesBeforeALaterDownloadsWaitingOnes) {
  DownloadQueue<std::string> queue;
  uint64_t first = queue.BeginDownload();
  uint64_t second = queue.BeginDownload();
  queue.Push(second, "b0");
  queue.Push(first, "a0");
  EXPECT_EQ(queue.PopNext(), "a0");
  queue.Push(first, "a1");  // the first device asks for its next chunk
  EXPECT_EQ(queue.PopNext(), "a1");
  EXPECT_EQ(queue.PopNext(), "b0");
  EXPECT_TRUE(queue.empty());
  // A session's next bundle is a new download, behind the ones begun before it.
  uint64_t first_again = queue.BeginDownload();
  queue.Push(first_again, "a'0");
  queue.Push(second, "b1");
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"b1", "a'0"}));
}

}  // namespace
}  // namespace vigil::gateway
