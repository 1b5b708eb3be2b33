#include "transport/client.h"

#include <asio/post.hpp>

#include "common/log.h"

namespace vigil::transport {

ConnectionPointer Dial(asio::io_context& io_context, std::shared_ptr<TlsContext> tls,
                       DialOptions options, Handlers handlers) {
  auto endpoint = std::make_shared<internal::EndpointState>();
  endpoint->options = std::move(options.connection);
  endpoint->handlers = std::move(handlers);
  endpoint->stats = options.stats ? options.stats : std::make_shared<EndpointStats>();
  Status valid = endpoint->options.Validate();
  if (valid && (!tls || tls->side() != TlsSide::kClient)) {
    valid =
        Fail(ErrorCode::kInvalidArgument, "Dial needs a TlsContext created with TlsSide::kClient");
  }
  if (valid && options.connect_timeout.count() <= 0) {
    valid = Fail(ErrorCode::kInvalidArgument, "Dial: connect_timeout must be positive");
  }
  if (!valid) {
    // Still hand back a connection so the caller has one failure path (on_close); a
    // client TlsContext is needed to build it, so without one there is nothing to return.
    if (!tls) return nullptr;
  }
  endpoint->tls = std::move(tls);
  ConnectionPointer connection;
  try {
    connection = std::make_shared<Connection>(endpoint, asio::ip::tcp::socket(io_context));
  } catch (const std::exception& exception) {
    spdlog::error("transport connection_setup_failed error={}", LogValue(exception.what()));
    return nullptr;
  }
  if (!valid) {
    asio::post(io_context, [connection, error = valid.error()] { connection->Abort(error); });
    return connection;
  }
  connection->StartDialing(options.host, options.port, options.connect_timeout);
  return connection;
}

class ReconnectingCore : public std::enable_shared_from_this<ReconnectingCore> {
 public:
  ReconnectingCore(asio::io_context& io_context, std::shared_ptr<TlsContext> tls,
                   DialOptions options, Handlers handlers, BackoffOptions backoff, uint64_t seed)
      : io_context_(io_context),
        tls_(std::move(tls)),
        options_(std::move(options)),
        user_handlers_(std::move(handlers)),
        backoff_(backoff, seed),
        timer_(io_context) {
    if (!options_.stats) options_.stats = std::make_shared<EndpointStats>();
  }

  void DialNow() {
    if (stopped_) return;
    ++dial_attempts_;
    Handlers handlers;
    std::weak_ptr<ReconnectingCore> weak = weak_from_this();
    handlers.on_open = [weak](const ConnectionPointer& connection) {
      auto self = weak.lock();
      if (!self) return;
      self->backoff_.Reset();
      self->failures_in_a_row_ = 0;
      self->open_ = connection;
      ++self->sessions_opened_;
      if (self->user_handlers_.on_open) self->user_handlers_.on_open(connection);
    };
    handlers.on_frame = [weak](const ConnectionPointer& connection, FrameType type,
                               ByteSpan payload) {
      auto self = weak.lock();
      if (self && self->user_handlers_.on_frame) {
        self->user_handlers_.on_frame(connection, type, payload);
      }
    };
    handlers.on_writable = [weak](const ConnectionPointer& connection) {
      auto self = weak.lock();
      if (self && self->user_handlers_.on_writable) self->user_handlers_.on_writable(connection);
    };
    handlers.on_close = [weak](const ConnectionPointer& connection, const Error& reason) {
      if (auto self = weak.lock()) self->OnClose(connection, reason);
    };
    current_ = Dial(io_context_, tls_, options_, std::move(handlers));
  }

  void OnClose(const ConnectionPointer& connection, const Error& reason) {
    last_error_ = reason;
    const bool was_open = open_ == connection;
    if (was_open) {
      open_.reset();
      if (user_handlers_.on_close) user_handlers_.on_close(connection, reason);
    } else {
      ++failures_in_a_row_;
    }
    if (current_ == connection) current_.reset();
    if (stopped_) return;
    if (failures_in_a_row_ >= limits::kReconnectAttemptsMax) {
      spdlog::error("transport reconnect_gave_up target={}:{} attempts={} last_error={}",
                    options_.host, options_.port, failures_in_a_row_, LogValue(reason.message()));
      return;
    }
    std::chrono::milliseconds delay = backoff_.NextDelay();
    spdlog::info("transport reconnect target={}:{} delay_ms={} reason={}", options_.host,
                 options_.port, delay.count(), LogValue(reason.message()));
    timer_.expires_after(delay);
    timer_.async_wait([weak = weak_from_this()](const asio::error_code& error) {
      auto self = weak.lock();
      if (!error && self) self->DialNow();
    });
  }

  void Stop() {
    stopped_ = true;
    timer_.cancel();
    if (ConnectionPointer connection = current_) connection->Close("reconnecting client stopped");
  }

  asio::io_context& io_context_;
  std::shared_ptr<TlsContext> tls_;
  DialOptions options_;
  Handlers user_handlers_;
  Backoff backoff_;
  asio::steady_timer timer_;
  ConnectionPointer current_;  // dialing or open
  ConnectionPointer open_;     // open only
  uint64_t dial_attempts_ = 0;
  uint64_t sessions_opened_ = 0;
  uint32_t failures_in_a_row_ = 0;
  bool stopped_ = false;
  std::optional<Error> last_error_;
};

ReconnectingClient::ReconnectingClient(asio::io_context& io_context,
                                       std::shared_ptr<TlsContext> tls, DialOptions options,
                                       Handlers handlers, BackoffOptions backoff, uint64_t seed)
    : core_(std::make_shared<ReconnectingCore>(io_context, std::move(tls), std::move(options),
                                               std::move(handlers), backoff, seed)) {}

ReconnectingClient::~ReconnectingClient() {
  core_->user_handlers_ = {};
  core_->Stop();
}

void ReconnectingClient::Start() {
  core_->stopped_ = false;
  if (!core_->current_) core_->DialNow();
}
void ReconnectingClient::Stop() { core_->Stop(); }
ConnectionPointer ReconnectingClient::connection() const { return core_->open_; }
uint64_t ReconnectingClient::dial_attempts() const { return core_->dial_attempts_; }
uint64_t ReconnectingClient::sessions_opened() const { return core_->sessions_opened_; }
std::optional<Error> ReconnectingClient::last_error() const { return core_->last_error_; }
const EndpointStats& ReconnectingClient::stats() const { return *core_->options_.stats; }

}  // namespace vigil::transport
