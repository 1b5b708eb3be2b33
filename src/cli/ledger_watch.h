// Following a local cluster's ledger as a client does, for `vigil demo` and the system
// benchmarks: one subscription from block 1, every block verified against the genesis
// validators (api::VerifyCommittedBlock) before its history rows (history/history.h) are
// handed to `on_row`, on the watch's own thread, in ledger order.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "api/client.h"
#include "history/history.h"
#include "peer/cluster.h"

namespace vigil::cli {

class LedgerWatch {
 public:
  // `on_row` also gets the wall-clock time the block arrived here.
  using OnRow = std::function<void(const history::Row& row,
                                   std::chrono::system_clock::time_point received)>;
  LedgerWatch(const peer::Cluster& cluster, OnRow on_row);
  ~LedgerWatch();
  LedgerWatch(const LedgerWatch&) = delete;
  LedgerWatch& operator=(const LedgerWatch&) = delete;

  Status Start();
  void Stop();

  // The cluster's device name for a device key ("device-2"), or a short hex key.
  std::string DeviceName(const crypto::PublicKey& key) const;

 private:
  void Run();

  const peer::Cluster& cluster_;
  OnRow on_row_;
  consensus::ValidatorSet validators_;
  std::map<crypto::PublicKey, std::string> names_;
  std::unique_ptr<api::ApiClient> client_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace vigil::cli
