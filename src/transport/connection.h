// One mutually authenticated TLS 1.3 session carrying frames (docs/transport.md).
//
// Connections are created by a Server (accepted) or by Dial (client.h); the application
// sees them through Handlers:
//
//   on_open(connection)               the peer is authenticated: connection->peer_identity()
//   on_frame(connection, type, bytes) one application frame; `bytes` is valid only during
//                                     the call (copy what you keep)
//   on_writable(connection)           the send queue drained after a Send was refused with
//                                     kResourceExhausted: the producer may resume
//   on_close(connection, reason)      exactly once per opened session, and once per Dial
//                                     that never opened (the reason says why)
//
// Backpressure: every connection has a bounded send queue (bytes and frames). Send never
// blocks and never grows memory past the limit: it returns kResourceExhausted, and
// on_writable fires once the queue is down to half the limit.
//
// Lifetimes: a connection stays alive while the event loop has work for it or anyone holds
// its ConnectionPointer. Timeouts: a handshake deadline (slow-loris), an idle timeout (no
// bytes at all from the peer; heartbeats keep quiet sessions alive) and a close deadline.
//
// Thread-safety: all methods must be called on the thread running the connection's
// io_context (the thread its handlers run on); from elsewhere, asio::post to it.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "pki/pki.h"
#include "transport/frame.h"
#include "transport/refusal.h"
#include "transport/tls.h"

namespace vigil::transport {

// Limits and timeouts of one endpoint; the defaults come from common/limits.h.
struct ConnectionOptions {
  // Roles the peer's certificate may carry; a peer with any other role is refused. Must not
  // be empty (a device agent dialing its gateway passes {pki::Role::kGateway}).
  std::vector<pki::Role> allowed_peer_roles;
  // When set, the peer's certificate name must equal it (a device pinning its gateway).
  std::optional<std::string> expected_peer_name;
  size_t frame_payload_bytes_max = limits::kFramePayloadBytesDefault;
  size_t send_queue_bytes_max = limits::kSendQueueBytesDefault;
  size_t send_queue_frames_max = limits::kSendQueueFramesMax;
  size_t read_chunk_bytes = limits::kReadChunkBytes;
  std::chrono::milliseconds handshake_timeout = limits::kHandshakeTimeoutDefault;
  std::chrono::milliseconds idle_timeout = limits::kIdleTimeoutDefault;
  // Zero disables heartbeats (tests use that to play a silent peer).
  std::chrono::milliseconds heartbeat_interval = limits::kHeartbeatIntervalDefault;
  std::chrono::milliseconds close_timeout = limits::kCloseTimeoutDefault;

  // Refuses out-of-range values, naming the field and its limit.
  Status Validate() const;
};

class Connection;
struct DialOptions;  // client.h
using ConnectionPointer = std::shared_ptr<Connection>;

struct Handlers {
  std::function<void(const ConnectionPointer&)> on_open;
  std::function<void(const ConnectionPointer&, FrameType, ByteSpan)> on_frame;
  std::function<void(const ConnectionPointer&)> on_writable;
  std::function<void(const ConnectionPointer&, const Error&)> on_close;
  // Optional: after every completed write (queued_bytes() just shrank). For an owner that
  // budgets memory across many connections.
  std::function<void(const ConnectionPointer&)> on_sent;
};

namespace internal {
// What all connections of one endpoint (a server, or one dial) share.
struct EndpointState {
  std::shared_ptr<TlsContext> tls;
  ConnectionOptions options;
  Handlers handlers;
  std::shared_ptr<EndpointStats> stats;
  // Called once when a connection reaches its end (the server drops it from its registry).
  std::function<void(Connection*)> on_finished;
};
}  // namespace internal

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Use Server or Dial; public only for std::make_shared.
  Connection(std::shared_ptr<internal::EndpointState> endpoint, asio::ip::tcp::socket socket);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Queues one application frame (type >= kFrameTypeApplicationFirst). Errors:
  // kResourceExhausted when the send queue is full (wait for on_writable), kUnavailable
  // when the session is not open, kInvalidArgument for a reserved type or an oversize
  // payload. The three overloads copy, take ownership, or share the payload (the shared
  // form sends one buffer to many peers without copying).
  Status Send(FrameType type, ByteSpan payload);
  Status Send(FrameType type, Bytes payload);
  Status Send(FrameType type, std::shared_ptr<const Bytes> payload);

  // Graceful close: sends a close frame carrying `reason`, flushes what is queued, then
  // hangs up (bounded by close_timeout). on_close follows.
  void Close(std::string_view reason);

  bool is_open() const { return state_ == State::kOpen; }
  // Valid from on_open on.
  const pki::Identity& peer_identity() const { return peer_identity_; }
  // "127.0.0.1:5123"
  const std::string& peer_address() const { return peer_address_; }
  size_t queued_bytes() const { return queued_bytes_; }
  size_t queued_frames() const { return send_queue_.size(); }
  TlsSide side() const { return endpoint_->tls->side(); }
  // The negotiated TLS 1.3 cipher suite, e.g. "TLS_AES_128_GCM_SHA256".
  std::string cipher();

 private:
  friend class ServerCore;
  friend ConnectionPointer Dial(asio::io_context& io_context, std::shared_ptr<TlsContext> tls,
                                DialOptions options, Handlers handlers);

  enum class State : uint8_t {
    kConnecting,      // client: resolving and connecting TCP
    kHandshaking,     // TLS handshake and identity checks
    kAwaitingAccept,  // client: handshake done, waiting for the server's accepted frame
    kOpen,
    kClosing,  // close frame queued or received; flushing, then hanging up
    kClosed,
  };

  struct OutgoingFrame {
    FrameHeaderBytes header{};
    Bytes owned;
    std::shared_ptr<const Bytes> shared;
    ByteSpan payload;
    size_t bytes() const { return header.size() + payload.size(); }
  };

  // Entry points for ServerCore and StartDial.
  void StartAccepted();
  void StartDialing(const std::string& host, uint16_t port,
                    std::chrono::milliseconds connect_timeout);
  void OnResolved(const asio::error_code& error, asio::ip::tcp::resolver::results_type results,
                  const std::string& target);

  void StartHandshake();
  void OnHandshake(const asio::error_code& error);
  void Open();
  void ArmDeadline(std::chrono::steady_clock::time_point deadline);
  void OnDeadline(const asio::error_code& error);
  void ArmHeartbeat();
  void OnHeartbeat(const asio::error_code& error);

  void StartRead();
  void OnRead(const asio::error_code& error, size_t bytes);
  void HandleFrame(const FrameView& frame);

  Status Enqueue(FrameType type, OutgoingFrame frame);
  void EnqueueTransportFrame(FrameType type, ByteSpan payload);
  void StartWrite();
  void OnWrite(const asio::error_code& error);

  // A peer the endpoint will not talk to: counted, logged, then dropped at once.
  void Refuse(const Refusal& refusal);
  // Same, but the session is up, so the peer is told why in a close frame first.
  void RefuseGracefully(const Refusal& refusal);
  void BeginClosing(Error reason, std::optional<std::string_view> close_frame_reason);
  void Abort(Error reason);

  std::shared_ptr<internal::EndpointState> endpoint_;
  const ConnectionOptions& options_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer heartbeat_timer_;
  std::unique_ptr<asio::ip::tcp::resolver> resolver_;  // client, while connecting
  std::chrono::steady_clock::time_point deadline_;
  State state_ = State::kConnecting;
  bool opened_ = false;
  bool timed_out_ = false;
  bool sent_since_heartbeat_ = false;
  bool wants_writable_ = false;
  bool writing_ = false;
  bool corked_ = false;
  bool reading_ = false;
  HandshakeObservations observations_;
  pki::Identity peer_identity_;
  std::string peer_address_;
  std::optional<Error> close_reason_;

  FrameParser parser_;
  std::unique_ptr<uint8_t[]> read_buffer_;
  std::chrono::steady_clock::time_point last_receive_;

  std::deque<OutgoingFrame> send_queue_;
  size_t queued_bytes_ = 0;
  size_t frames_in_flight_ = 0;  // at the front of send_queue_, being written
  std::vector<asio::const_buffer> write_buffers_;
};

}  // namespace vigil::transport
