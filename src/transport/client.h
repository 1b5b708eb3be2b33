// The client side: Dial opens one session; ReconnectingClient keeps one session up, dialing
// again with exponential backoff and jitter after every failure or loss.
//
//   DialOptions options;
//   options.port = 7443;
//   options.connection.allowed_peer_roles = {pki::Role::kGateway};  // a device insists
//   ConnectionPointer connection = Dial(io_context, client_tls, options, handlers);
//
// The client checks the server's certificate (fleet CA, dates) and identity (role, and name
// when expected_peer_name is set) just as the server checks the client's. A dial fails with
// on_close(connection, reason) when the connection cannot be made, is refused (reason names
// the refusal, e.g. "refused by peer: server sent alert: certificate expired"), or times out.
//
// Thread-safety: as Connection (connection.h): use from the io_context's thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "transport/backoff.h"
#include "transport/connection.h"

namespace vigil::transport {

struct DialOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::chrono::milliseconds connect_timeout = limits::kConnectTimeoutDefault;
  ConnectionOptions connection;
  // Counters shared by every dial that passes the same object; Dial creates one when null.
  std::shared_ptr<EndpointStats> stats;
};

// Starts connecting and returns at once. Every dial ends with exactly one on_close; on_open
// comes first when the session was established. Invalid options are reported the same way
// (on_close, posted), so the caller has one path for every failure. Returns null only when
// `tls` is null or OpenSSL cannot allocate the connection (nothing to report on).
ConnectionPointer Dial(asio::io_context& io_context, std::shared_ptr<TlsContext> tls,
                       DialOptions options, Handlers handlers);

class ReconnectingCore;

class ReconnectingClient {
 public:
  // `handlers` see each established session (on_open ... on_close); failed dials are only
  // logged and counted. `seed` drives the backoff jitter (replayable in tests).
  ReconnectingClient(asio::io_context& io_context, std::shared_ptr<TlsContext> tls,
                     DialOptions options, Handlers handlers, BackoffOptions backoff, uint64_t seed);
  // Stops without calling handlers.
  ~ReconnectingClient();
  ReconnectingClient(const ReconnectingClient&) = delete;
  ReconnectingClient& operator=(const ReconnectingClient&) = delete;

  void Start();
  // Closes the current session (on_close fires) and stops dialing.
  void Stop();
  // The open session, or null between sessions.
  ConnectionPointer connection() const;
  uint64_t dial_attempts() const;
  uint64_t sessions_opened() const;
  // Why the last dial or session ended (nullopt before the first).
  std::optional<Error> last_error() const;
  const EndpointStats& stats() const;

 private:
  std::shared_ptr<ReconnectingCore> core_;
};

}  // namespace vigil::transport
