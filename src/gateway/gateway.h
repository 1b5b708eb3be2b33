// `vigil gateway`: the seed's Manager, done so that nobody has to trust it (docs/gateway.md).
//
// It follows the ledger by subscription — no polling interval — as a LedgerFollower: every
// block is checked against the genesis validators and re-executed before the gateway acts on
// it, so a lying peer cannot feed it a release or an enrollment. When a release of an app its
// devices run is committed, it fetches the bundle from the artifact mirrors, checks size and
// SHA-256 against what the ledger recorded, and keeps it in its BundleCache. Devices hold one
// mutual-TLS session each; a session is admitted only if the certificate's key is an enrolled,
// unrevoked device on the ledger, and a revocation committed on the ledger closes it at once.
// The gateway offers each device the newest release of its apps (with the publish
// transaction's ledger proof, which the device checks itself), serves the bundle in chunks,
// and relays the device's signed reports to the peers, answering with the ledger's result once
// the report is in a block.
//
//   asio::io_context loop;
//   VIGIL_ASSIGN_OR_RETURN(auto gateway, Gateway::Start(loop, options, fetch));
//   loop.run();
//
// Threads: everything that touches sessions, the follower and the cache runs on `loop`. Three
// helper threads do blocking work and post results back to it: the ledger subscription (an
// api::ApiClient streaming blocks), the report relay (an api::ApiClient submitting), and the
// bundle fetch (FetchFunction). Stop() (or the destructor) stops them.
//
// Thread-safety: call Start, Stop, status() and the destructor on the loop's thread (or before
// the loop runs / after it stopped).
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "delivery/protocol.h"
#include "ledger/genesis.h"
#include "pki/pki.h"

namespace vigil::gateway {

struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Downloads the bundle of `release` to `destination` (any resume, retry and mirror choice is
// the function's business). The gateway checks size and digest itself afterwards, so a
// fetcher that returns wrong bytes only costs a retry. Runs on the fetch thread.
using FetchFunction = std::function<Status(const delivery::VerifiedRelease& release,
                                           const std::filesystem::path& destination)>;

struct GatewayOptions {
  pki::NodeCredentials credentials;  // a certificate of role gateway
  ledger::Genesis genesis;           // the chain this gateway serves
  std::vector<Endpoint> peers;       // client API endpoints; tried in turn
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; port() reports it
  std::filesystem::path cache_directory;
  uint64_t cache_bytes_max = 0;  // 0: limits::kGatewayCacheBytesDefault
  // How long a failed fetch waits before the next attempt (it is retried while devices want
  // the release).
  std::chrono::milliseconds fetch_retry_delay{2'000};
  // Bytes queued to all devices together beyond which chunk requests wait their turn (0:
  // limits::kGatewayQueuedBytesMax): the gateway's memory does not grow with the fleet.
  size_t queued_bytes_max = 0;
  // Test-only misbehaviour (`vigil bench security`): tell every device it is of this group, by
  // rewriting the enrollment in its Welcome (which then no longer matches its ledger proof).
  std::optional<std::string> test_claimed_group;
};

// What the gateway is doing, for `vigil gateway` logs, tests and benchmarks.
struct GatewayStatus {
  uint64_t ledger_height = 0;
  size_t devices_connected = 0;
  size_t bundles_cached = 0;
  uint64_t cache_bytes = 0;
  uint64_t offers_sent = 0;
  uint64_t chunks_served = 0;
  uint64_t chunks_deferred = 0;  // waited for the gateway-wide send budget
  uint64_t reports_relayed = 0;
  uint64_t reports_committed = 0;
  uint64_t sessions_refused = 0;
  uint64_t blocks_refused = 0;  // blocks a peer sent that did not verify
  // Per release fetched: how long the download and the gateway's own verification took (the
  // seed's Table 6.2 "download" and "manager verification" columns).
  struct Fetch {
    std::string app;
    std::string version;
    std::chrono::microseconds download{0};
    std::chrono::microseconds verification{0};
  };
  std::vector<Fetch> fetches;  // the most recent, at most limits::kGatewayFetchHistoryMax
};

class GatewayCore;

class Gateway {
 public:
  static Expected<std::unique_ptr<Gateway>> Start(asio::io_context& loop, GatewayOptions options,
                                                  FetchFunction fetch);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  uint16_t port() const;
  GatewayStatus status() const;
  // Closes every session, stops the helper threads. Idempotent.
  void Stop();

 private:
  explicit Gateway(std::shared_ptr<GatewayCore> core) : core_(std::move(core)) {}
  std::shared_ptr<GatewayCore> core_;
};

}  // namespace vigil::gateway
