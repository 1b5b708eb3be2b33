// A transport server: accepts TCP connections, runs the TLS 1.3 handshake with client
// certificates, refuses peers it must not talk to, and hands authenticated sessions to the
// application through Handlers (connection.h).
//
//   auto tls = TlsContext::Create(credentials, TlsSide::kServer);
//   ServerOptions options;
//   options.connection.allowed_peer_roles = {pki::Role::kDevice};
//   auto server = Server::Create(io_context, *tls, options, handlers);
//   io_context.run();
//
// A refused connection (see RefusalReason) is logged with its reason, counted in stats(),
// and dropped; it never blocks the event loop or other sessions. At connections_max, new
// connections are refused at once.
//
// Thread-safety: everything runs on the io_context's thread; call Stop() and read
// connection_count() there. stats() may be read from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"
#include "transport/connection.h"

namespace vigil::transport {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; port() reports it
  size_t connections_max = limits::kServerConnectionsDefault;
  ConnectionOptions connection;
};

class ServerCore;

class Server {
 public:
  // Binds and starts accepting. Errors: kInvalidArgument (options), kIOError (bind/listen,
  // e.g. the port is taken).
  static Expected<std::unique_ptr<Server>> Create(asio::io_context& io_context,
                                                  std::shared_ptr<TlsContext> tls,
                                                  ServerOptions options, Handlers handlers);
  // Stops without calling any handler (the application may be half destroyed). Do not
  // destroy a Server from inside one of its handlers; post the destruction instead.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Stops accepting and closes every connection at once (on_close fires for open ones).
  void Stop();
  size_t connection_count() const;
  const EndpointStats& stats() const;

 private:
  explicit Server(std::shared_ptr<ServerCore> core) : core_(std::move(core)) {}
  std::shared_ptr<ServerCore> core_;
};

}  // namespace vigil::transport
