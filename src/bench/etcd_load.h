// The etcd side of `vigil bench ledger`: a real etcd cluster on loopback under the same client
// load as the Vigil peers, so the bench can print the ratio of the two.
//
//   VIGIL_ASSIGN_OR_RETURN(LoadResult etcd, bench::RunEtcdLoad({.directory = dir / "etcd"}, load));
//   std::cout << bench::FormatLoadResult(etcd) << "\n";
//
// RunEtcdLoad starts `members` etcd processes (`etcd` from PATH, else /usr/bin/etcd) as
// children, each with its data in DIRECTORY/etcd-N/ and its log in DIRECTORY/etcd-N.log, on
// free loopback ports, waits until each answers GET /health with a leader, then drives PUTs of
// random `value_bytes` values to distinct keys through etcd's v3 JSON gateway
// (POST /v3/kv/put with base64 key and value) from one Asio thread over HTTP/1.1 keep-alive
// connections, `concurrency` of them, spread evenly over the members the way a client given all
// endpoints spreads its requests. A request's latency runs from its send time (bench/load_stats.h)
// to the 200 OK, which etcd sends once the entry is committed by a quorum and applied. Then it
// stops the members (SIGTERM, SIGKILL after a grace period) and leaves DIRECTORY as it is, for
// a look at the logs.
//
// Durability: `durable` keeps etcd's default of fsyncing its WAL before it acknowledges;
// `durable = false` adds --unsafe-no-fsync (present but unlisted in 3.4.23), which is only for
// measuring the driver itself.
//
// Thread-safety: RunEtcdLoad blocks the calling thread for the whole run and runs the driver on
// it; it forks, so other threads of the caller must not hold locks a child could need (the
// child only calls async-signal-safe functions before exec). Children are killed if the calling
// thread dies (PR_SET_PDEATHSIG), so a killed bench leaves no etcd behind.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "bench/load_stats.h"
#include "common/error.h"

namespace vigil::bench {

// Limits of the etcd driver (see load_stats.h for why they are not in common/limits.h yet).
inline constexpr size_t kEtcdMembersMax = 9;
// From start until every member reports healthy; etcd elects a leader in 1-2 s on loopback.
inline constexpr std::chrono::seconds kEtcdHealthyTimeout{30};
inline constexpr std::chrono::milliseconds kEtcdHealthPollInterval{100};
// SIGTERM, then SIGKILL after this (per member: they are stopped one after another).
inline constexpr std::chrono::seconds kEtcdStopGrace{10};
// A request without a reply after this counts as failed and its connection is replaced; the
// same bound applies to requests still in flight when the window closes.
inline constexpr std::chrono::seconds kEtcdRequestTimeout{10};
// How often in-flight requests are checked against the timeout.
inline constexpr std::chrono::milliseconds kEtcdTimeoutCheckInterval{250};
// Wait before replacing a broken connection, so a dead member is not hammered with connects.
inline constexpr std::chrono::milliseconds kEtcdReconnectDelay{100};
// One HTTP response (headers and body); etcd's replies to a PUT are about 300 bytes.
inline constexpr size_t kHttpResponseBytesMax = 64 * 1024;
// Distinct random values cycled through by the requests (values need not be unique, only
// incompressible; a pool keeps random generation off the hot path).
inline constexpr size_t kEtcdValuePoolSize = 1024;
// Bytes from the end of a member's log quoted in an error.
inline constexpr size_t kEtcdLogTailBytes = 3000;

struct EtcdClusterSpec {
  std::filesystem::path directory;  // created if missing; must not hold etcd-N/ already
  size_t members = 3;
  bool durable = true;  // false: --unsafe-no-fsync, to measure the driver, never to compare
};

// Errors: kUnavailable when etcd is not installed or a member does not become healthy (with
// the tail of its log), or cannot be reached; kInvalidArgument for a spec out of its limits;
// kAlreadyExists when DIRECTORY already holds a member's data. Failed requests during the run
// are counted in the result, not returned as errors.
Expected<LoadResult> RunEtcdLoad(const EtcdClusterSpec& cluster, const LoadSpec& load);

// --- Exposed for tests. ---

// The framing of one HTTP/1.1 response at the start of `data`.
struct HttpResponseHead {
  int status = 0;
  size_t header_bytes = 0;   // status line and headers, through the blank line
  size_t message_bytes = 0;  // the whole response, body included
  bool chunked = false;      // Transfer-Encoding: chunked (else Content-Length)
  bool keep_alive = true;    // false on Connection: close
};
// std::nullopt while `data` holds only part of a response; kCorruption when it cannot be one
// (or is longer than kHttpResponseBytesMax).
Expected<std::optional<HttpResponseHead>> ParseHttpResponse(std::string_view data);
// The body of a complete response, with chunked framing removed.
std::string HttpResponseBody(std::string_view message, const HttpResponseHead& head);

}  // namespace vigil::bench
