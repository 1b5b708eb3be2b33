#include "transport/server.h"

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <unordered_map>

#include "common/log.h"

namespace vigil::transport {

// Owned jointly by the Server and its pending accept, so a callback never outlives it.
class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(asio::io_context& io_context, std::shared_ptr<internal::EndpointState> endpoint,
             size_t connections_max)
      : endpoint_(std::move(endpoint)),
        acceptor_(io_context),
        retry_timer_(io_context),
        connections_max_(connections_max) {}

  Status Listen(const std::string& address_text, uint16_t port) {
    asio::error_code error;
    asio::ip::address address = asio::ip::make_address(address_text, error);
    if (error) {
      return Fail(ErrorCode::kInvalidArgument,
                  "server listen address '" + address_text + "' is not an IP address");
    }
    asio::ip::tcp::endpoint endpoint(address, port);
    std::string where = address_text + ":" + std::to_string(port);
    // ASIO_NO_DEPRECATED: these error_code overloads return void, so check after each.
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      return Fail(ErrorCode::kIOError, "listening on " + where + " failed: " + error.message() +
                                           "; is another process using the port?");
    }
    port_ = acceptor_.local_endpoint(error).port();
    return Ok();
  }

  void Accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](const asio::error_code& error, asio::ip::tcp::socket socket) {
          self->OnAccept(error, std::move(socket));
        });
  }

  void OnAccept(const asio::error_code& error, asio::ip::tcp::socket socket) {
    if (stopped_) return;
    if (error) {
      if (error == asio::error::operation_aborted) return;
      // E.g. out of file descriptors: back off instead of spinning on the error.
      spdlog::warn("transport accept_failed port={} error={} retry_ms={}", port_,
                   LogValue(error.message()), limits::kAcceptRetryDelay.count());
      retry_timer_.expires_after(limits::kAcceptRetryDelay);
      retry_timer_.async_wait([self = shared_from_this()](const asio::error_code& wait_error) {
        if (!wait_error && !self->stopped_) self->Accept();
      });
      return;
    }
    endpoint_->stats->connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if (connections_.size() >= connections_max_) {
      Refusal refusal{RefusalReason::kTooManyConnections, std::to_string(connections_.size()) +
                                                              " connections open, the limit is " +
                                                              std::to_string(connections_max_)};
      endpoint_->stats->CountRefusal(refusal.reason);
      asio::error_code ignored;
      auto remote = socket.remote_endpoint(ignored);
      spdlog::warn("transport refused side=server peer={}:{} reason={} detail={}",
                   remote.address().to_string(), remote.port(),
                   LogValue(RefusalReasonName(refusal.reason)), LogValue(refusal.detail));
      socket.close(ignored);
    } else {
      StartConnection(std::move(socket));
    }
    Accept();
  }

  void StartConnection(asio::ip::tcp::socket socket) {
    ConnectionPointer connection;
    try {
      connection = std::make_shared<Connection>(endpoint_, std::move(socket));
    } catch (const std::exception& exception) {
      // Asio throws when OpenSSL cannot create the SSL object (out of memory).
      spdlog::error("transport connection_setup_failed error={}", LogValue(exception.what()));
      return;
    }
    connections_.emplace(connection.get(), connection);
    connection->StartAccepted();
  }

  void Forget(Connection* connection) { connections_.erase(connection); }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    auto connections = std::move(connections_);
    connections_.clear();
    for (auto& [raw, connection] : connections) {
      connection->Abort(Error(ErrorCode::kUnavailable, "server stopping"));
    }
  }

  std::shared_ptr<internal::EndpointState> endpoint_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  size_t connections_max_;
  uint16_t port_ = 0;
  bool stopped_ = false;
  std::unordered_map<Connection*, ConnectionPointer> connections_;
};

Expected<std::unique_ptr<Server>> Server::Create(asio::io_context& io_context,
                                                 std::shared_ptr<TlsContext> tls,
                                                 ServerOptions options, Handlers handlers) {
  if (!tls || tls->side() != TlsSide::kServer) {
    return Fail(ErrorCode::kInvalidArgument,
                "Server::Create needs a TlsContext created with TlsSide::kServer");
  }
  VIGIL_RETURN_IF_ERROR(options.connection.Validate());
  if (options.connections_max == 0 || options.connections_max > limits::kServerConnectionsMax) {
    return Fail(ErrorCode::kInvalidArgument, "server connections_max must be in 1.." +
                                                 std::to_string(limits::kServerConnectionsMax));
  }
  auto endpoint = std::make_shared<internal::EndpointState>();
  endpoint->tls = std::move(tls);
  endpoint->options = std::move(options.connection);
  endpoint->handlers = std::move(handlers);
  endpoint->stats = std::make_shared<EndpointStats>();
  auto core = std::make_shared<ServerCore>(io_context, endpoint, options.connections_max);
  endpoint->on_finished = [weak = std::weak_ptr<ServerCore>(core)](Connection* connection) {
    if (auto strong = weak.lock()) strong->Forget(connection);
  };
  VIGIL_RETURN_IF_ERROR(core->Listen(options.listen_address, options.port));
  spdlog::info("transport listening address={} port={} name={}", options.listen_address,
               core->port_, LogValue(endpoint->tls->local_identity().name));
  core->Accept();
  return std::unique_ptr<Server>(new Server(std::move(core)));
}

Server::~Server() {
  core_->endpoint_->handlers = {};
  core_->Stop();
}

uint16_t Server::port() const { return core_->port_; }
void Server::Stop() { core_->Stop(); }
size_t Server::connection_count() const { return core_->connections_.size(); }
const EndpointStats& Server::stats() const { return *core_->endpoint_->stats; }

}  // namespace vigil::transport
