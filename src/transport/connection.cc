#include "transport/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <asio/connect.hpp>
#include <asio/write.hpp>
#include <string>
#include <utility>

#include "common/assert.h"
#include "common/log.h"

namespace vigil::transport {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view SideName(TlsSide side) { return side == TlsSide::kServer ? "server" : "client"; }

std::string FormatEndpoint(const asio::ip::tcp::socket& socket) {
  asio::error_code error;
  asio::ip::tcp::endpoint remote = socket.remote_endpoint(error);
  if (error) return "unknown";
  return remote.address().to_string() + ":" + std::to_string(remote.port());
}

bool IsEndOfStream(const asio::error_code& error) {
  return error == asio::error::eof || error == asio::ssl::error::stream_truncated;
}

}  // namespace

Status ConnectionOptions::Validate() const {
  if (allowed_peer_roles.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "transport options: allowed_peer_roles is empty, so every peer would be "
                "refused; list the roles this endpoint serves (e.g. device)");
  }
  if (frame_payload_bytes_max > limits::kFramePayloadBytesMax) {
    return Fail(ErrorCode::kInvalidArgument, "transport options: frame_payload_bytes_max " +
                                                 std::to_string(frame_payload_bytes_max) +
                                                 " exceeds the protocol maximum " +
                                                 std::to_string(limits::kFramePayloadBytesMax));
  }
  if (frame_payload_bytes_max < limits::kCloseReasonBytesMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "transport options: frame_payload_bytes_max must hold a close reason (" +
                    std::to_string(limits::kCloseReasonBytesMax) + " bytes)");
  }
  if (send_queue_bytes_max == 0 || send_queue_frames_max == 0 ||
      send_queue_frames_max > limits::kSendQueueFramesMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "transport options: send queue limits must be positive and at most " +
                    std::to_string(limits::kSendQueueFramesMax) + " frames");
  }
  if (read_chunk_bytes == 0 || read_chunk_bytes > limits::kReadChunkBytes) {
    return Fail(ErrorCode::kInvalidArgument, "transport options: read_chunk_bytes must be in 1.." +
                                                 std::to_string(limits::kReadChunkBytes));
  }
  if (handshake_timeout.count() <= 0 || idle_timeout.count() <= 0 || close_timeout.count() <= 0 ||
      heartbeat_interval.count() < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "transport options: timeouts must be positive (heartbeat_interval may be 0)");
  }
  return Ok();
}

Connection::Connection(std::shared_ptr<internal::EndpointState> endpoint,
                       asio::ip::tcp::socket socket)
    : endpoint_(std::move(endpoint)),
      options_(endpoint_->options),
      stream_(std::move(socket), endpoint_->tls->context()),
      deadline_timer_(stream_.get_executor()),
      heartbeat_timer_(stream_.get_executor()),
      parser_(options_.frame_payload_bytes_max) {
  AttachObservations(stream_.native_handle(), &observations_);
}

Connection::~Connection() {
  // The SSL object outlives this struct only until stream_ is destroyed, but detach anyway
  // so no callback can see a dangling pointer.
  AttachObservations(stream_.native_handle(), nullptr);
}

std::string Connection::cipher() { return NegotiatedCipher(stream_.native_handle()); }

// --- Starting -------------------------------------------------------------------------

void Connection::StartAccepted() {
  peer_address_ = FormatEndpoint(stream_.next_layer());
  asio::error_code ignored;
  stream_.next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
  StartHandshake();
}

void Connection::StartDialing(const std::string& host, uint16_t port,
                              std::chrono::milliseconds connect_timeout) {
  state_ = State::kConnecting;
  peer_address_ = host + ":" + std::to_string(port);
  ArmDeadline(Clock::now() + connect_timeout);
  resolver_ = std::make_unique<asio::ip::tcp::resolver>(stream_.get_executor());
  resolver_->async_resolve(
      host, std::to_string(port),
      [self = shared_from_this(), target = peer_address_](
          const asio::error_code& error, asio::ip::tcp::resolver::results_type results) {
        self->OnResolved(error, std::move(results), target);
      });
}

void Connection::OnResolved(const asio::error_code& error,
                            asio::ip::tcp::resolver::results_type results,
                            const std::string& target) {
  if (state_ != State::kConnecting) return;
  if (error) {
    Abort(Error(timed_out_ ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                "resolving " + target + " failed: " + error.message() + "; check the host name"));
    return;
  }
  asio::async_connect(
      stream_.next_layer(), results,
      [self = shared_from_this(), target](const asio::error_code& connect_error,
                                          const asio::ip::tcp::endpoint&) {
        if (self->state_ != State::kConnecting) return;
        if (connect_error) {
          self->Abort(Error(self->timed_out_ ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                            "connecting to " + target + " failed: " + connect_error.message() +
                                "; is the server running and reachable?"));
          return;
        }
        self->peer_address_ = FormatEndpoint(self->stream_.next_layer());
        asio::error_code ignored;
        self->stream_.next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
        self->endpoint_->stats->connections_accepted.fetch_add(1, std::memory_order_relaxed);
        self->StartHandshake();
      });
}

void Connection::StartHandshake() {
  state_ = State::kHandshaking;
  timed_out_ = false;
  ArmDeadline(Clock::now() + options_.handshake_timeout);
  auto type =
      side() == TlsSide::kServer ? asio::ssl::stream_base::server : asio::ssl::stream_base::client;
  stream_.async_handshake(type, [self = shared_from_this()](const asio::error_code& error) {
    self->OnHandshake(error);
  });
}

void Connection::OnHandshake(const asio::error_code& error) {
  if (state_ != State::kHandshaking) return;
  if (error) {
    Refuse(ClassifyHandshakeFailure(error, observations_, side(), timed_out_));
    return;
  }
  Expected<pki::Identity> identity = PeerIdentity(stream_.native_handle());
  if (!identity) {
    Refuse({RefusalReason::kCertificateInvalid, identity.error().message()});
    return;
  }
  peer_identity_ = std::move(*identity);
  read_buffer_ = std::make_unique_for_overwrite<uint8_t[]>(options_.read_chunk_bytes);
  last_receive_ = Clock::now();
  if (auto refusal = CheckPeerIdentity(peer_identity_, options_.allowed_peer_roles,
                                       options_.expected_peer_name)) {
    // The peer holds a valid fleet certificate, so it may learn why it was turned away.
    RefuseGracefully(*refusal);
    StartRead();
    return;
  }
  if (side() == TlsSide::kServer) {
    EnqueueTransportFrame(kFrameTypeAccepted, {});
    Open();
  } else {
    // The server checks our certificate after its own handshake completes; the session is
    // open once its verdict (accepted frame) arrives, still under the handshake deadline.
    state_ = State::kAwaitingAccept;
  }
  StartRead();
  StartWrite();
}

void Connection::Open() {
  state_ = State::kOpen;
  opened_ = true;
  last_receive_ = Clock::now();
  endpoint_->stats->sessions_opened.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("transport session_opened side={} peer={} role={} name={} cipher={}",
                SideName(side()), peer_address_, pki::RoleName(peer_identity_.role),
                LogValue(peer_identity_.name), cipher());
  ArmDeadline(last_receive_ + options_.idle_timeout);
  ArmHeartbeat();
  if (endpoint_->handlers.on_open) endpoint_->handlers.on_open(shared_from_this());
}

// --- Timers ---------------------------------------------------------------------------

void Connection::ArmDeadline(Clock::time_point deadline) {
  deadline_ = deadline;
  deadline_timer_.expires_at(deadline);
  deadline_timer_.async_wait(
      [self = shared_from_this()](const asio::error_code& error) { self->OnDeadline(error); });
}

void Connection::OnDeadline(const asio::error_code& error) {
  // A re-armed timer cancels its previous wait; only the latest one acts.
  if (error == asio::error::operation_aborted || state_ == State::kClosed) return;
  const Clock::time_point now = Clock::now();
  if (now < deadline_) return;  // a stale wait that completed before a re-arm
  switch (state_) {
    case State::kConnecting:
      timed_out_ = true;
      Abort(Error(ErrorCode::kTimeout, "connecting to " + peer_address_ + " timed out; " +
                                           "is the server running and reachable?"));
      return;
    case State::kHandshaking:
    case State::kAwaitingAccept:
      timed_out_ = true;
      Refuse(ClassifyHandshakeFailure({}, observations_, side(), /*timed_out=*/true));
      return;
    case State::kOpen: {
      const Clock::time_point idle_deadline = last_receive_ + options_.idle_timeout;
      if (now >= idle_deadline) {
        RefuseGracefully(
            {RefusalReason::kIdleTimeout,
             "nothing received for " + std::to_string(options_.idle_timeout.count()) + " ms"});
      } else {
        ArmDeadline(idle_deadline);
      }
      return;
    }
    case State::kClosing:
      Abort(close_reason_.value_or(
          Error(ErrorCode::kTimeout, "close did not finish within the close timeout")));
      return;
    case State::kClosed:
      return;
  }
}

void Connection::ArmHeartbeat() {
  if (options_.heartbeat_interval.count() == 0) return;
  heartbeat_timer_.expires_after(options_.heartbeat_interval);
  heartbeat_timer_.async_wait(
      [self = shared_from_this()](const asio::error_code& error) { self->OnHeartbeat(error); });
}

void Connection::OnHeartbeat(const asio::error_code& error) {
  if (error == asio::error::operation_aborted || state_ != State::kOpen) return;
  // Only a session that sent nothing for a whole interval needs a heartbeat.
  if (!sent_since_heartbeat_ && send_queue_.empty()) {
    EnqueueTransportFrame(kFrameTypeHeartbeat, {});
    StartWrite();
  }
  sent_since_heartbeat_ = false;
  ArmHeartbeat();
}

// --- Reading --------------------------------------------------------------------------

void Connection::StartRead() {
  if (reading_ || state_ == State::kClosed) return;
  reading_ = true;
  stream_.async_read_some(asio::buffer(read_buffer_.get(), options_.read_chunk_bytes),
                          [self = shared_from_this()](const asio::error_code& error, size_t bytes) {
                            self->OnRead(error, bytes);
                          });
}

void Connection::OnRead(const asio::error_code& error, size_t bytes) {
  reading_ = false;
  if (state_ == State::kClosed) return;
  if (error) {
    if (state_ == State::kClosing) {
      Abort(close_reason_.value_or(Error(ErrorCode::kUnavailable, "session closed")));
    } else if (state_ == State::kAwaitingAccept) {
      // TLS 1.3: the server's verdict on our certificate arrives after our handshake ended,
      // as an alert ("certificate expired", "unknown ca") on the first read.
      Refuse(ClassifyHandshakeFailure(error, observations_, side(), timed_out_));
    } else if (IsEndOfStream(error) && parser_.at_frame_boundary()) {
      Abort(Error(ErrorCode::kUnavailable,
                  "peer " + peer_address_ + " hung up without a close frame"));
    } else {
      Abort(Error(ErrorCode::kUnavailable,
                  "reading from " + peer_address_ + " failed: " + DescribeAsioError(error)));
    }
    return;
  }
  last_receive_ = Clock::now();
  ByteSpan input(read_buffer_.get(), bytes);
  // In kClosing the peer's remaining bytes are drained, not delivered.
  while (state_ == State::kOpen || state_ == State::kAwaitingAccept) {
    Expected<std::optional<FrameView>> frame = parser_.Next(&input);
    if (!frame) {
      RefusalReason reason = frame.error().code() == ErrorCode::kResourceExhausted
                                 ? RefusalReason::kOversizeFrame
                                 : RefusalReason::kInvalidFrame;
      RefuseGracefully({reason, frame.error().message()});
      break;
    }
    if (!frame->has_value()) break;
    HandleFrame(**frame);
  }
  StartRead();
}

void Connection::HandleFrame(const FrameView& frame) {
  endpoint_->stats->frames_received.fetch_add(1, std::memory_order_relaxed);
  const bool client = side() == TlsSide::kClient;
  switch (frame.type) {
    case kFrameTypeHeartbeat:
      if (frame.payload.empty()) return;
      break;
    case kFrameTypeClose: {
      if (frame.payload.size() > limits::kCloseReasonBytesMax) break;
      std::string reason(frame.payload.begin(), frame.payload.end());
      if (state_ == State::kAwaitingAccept) {
        Refusal refusal{RefusalReason::kRefusedByPeer, "server refused us: " + reason};
        endpoint_->stats->CountRefusal(refusal.reason);
        spdlog::warn("transport refused side=client peer={} reason={} detail={}", peer_address_,
                     LogValue(RefusalReasonName(refusal.reason)), LogValue(refusal.detail));
        BeginClosing(refusal.ToError(), std::nullopt);
      } else {
        BeginClosing(Error(ErrorCode::kUnavailable, "peer closed the session: " + reason),
                     std::nullopt);
      }
      return;
    }
    case kFrameTypeAccepted:
      if (client && state_ == State::kAwaitingAccept && frame.payload.empty()) {
        Open();
        return;
      }
      break;
    default:
      if (frame.type >= kFrameTypeApplicationFirst && state_ == State::kOpen) {
        if (endpoint_->handlers.on_frame) {
          endpoint_->handlers.on_frame(shared_from_this(), frame.type, frame.payload);
        }
        return;
      }
      break;
  }
  RefuseGracefully({RefusalReason::kInvalidFrame,
                    "unexpected frame of type " + std::to_string(frame.type) + " with " +
                        std::to_string(frame.payload.size()) + " payload bytes"});
}

// --- Writing --------------------------------------------------------------------------

Status Connection::Send(FrameType type, ByteSpan payload) {
  OutgoingFrame frame;
  frame.owned.assign(payload.begin(), payload.end());
  frame.payload = frame.owned;
  return Enqueue(type, std::move(frame));
}

Status Connection::Send(FrameType type, Bytes payload) {
  OutgoingFrame frame;
  frame.owned = std::move(payload);
  frame.payload = frame.owned;
  return Enqueue(type, std::move(frame));
}

Status Connection::Send(FrameType type, std::shared_ptr<const Bytes> payload) {
  if (!payload) return Fail(ErrorCode::kInvalidArgument, "Send: null payload");
  OutgoingFrame frame;
  frame.payload = *payload;
  frame.shared = std::move(payload);
  return Enqueue(type, std::move(frame));
}

Status Connection::Enqueue(FrameType type, OutgoingFrame frame) {
  if (state_ != State::kOpen) {
    return Fail(ErrorCode::kUnavailable,
                "sending to " + peer_address_ + ": the session is not open (closing or closed)");
  }
  if (type < kFrameTypeApplicationFirst) {
    return Fail(ErrorCode::kInvalidArgument, "sending to " + peer_address_ + ": frame type " +
                                                 std::to_string(type) +
                                                 " is reserved for the transport; use types from " +
                                                 std::to_string(kFrameTypeApplicationFirst));
  }
  if (frame.payload.size() > options_.frame_payload_bytes_max) {
    return Fail(ErrorCode::kInvalidArgument,
                "sending to " + peer_address_ + ": payload of " +
                    std::to_string(frame.payload.size()) + " bytes exceeds the frame maximum " +
                    std::to_string(options_.frame_payload_bytes_max) + "; split it");
  }
  const size_t bytes = frame.bytes();
  // An empty queue always takes one frame, so a frame larger than the byte limit still
  // makes progress; otherwise the limits hold.
  if (!send_queue_.empty() && (queued_bytes_ + bytes > options_.send_queue_bytes_max ||
                               send_queue_.size() >= options_.send_queue_frames_max)) {
    wants_writable_ = true;
    endpoint_->stats->send_refused_queue_full.fetch_add(1, std::memory_order_relaxed);
    return Fail(ErrorCode::kResourceExhausted,
                "send queue to " + peer_address_ + " is full (" + std::to_string(queued_bytes_) +
                    " bytes in " + std::to_string(send_queue_.size()) + " frames; limits " +
                    std::to_string(options_.send_queue_bytes_max) + " bytes, " +
                    std::to_string(options_.send_queue_frames_max) +
                    " frames); resume after on_writable");
  }
  frame.header = EncodeFrameHeader(type, static_cast<uint32_t>(frame.payload.size()));
  queued_bytes_ += bytes;
  send_queue_.push_back(std::move(frame));
  StartWrite();
  return Ok();
}

void Connection::EnqueueTransportFrame(FrameType type, ByteSpan payload) {
  // Transport frames are tiny and bypass the limits: a full queue must still be able to
  // carry a close frame or the accepted verdict.
  OutgoingFrame frame;
  frame.owned.assign(payload.begin(), payload.end());
  frame.payload = frame.owned;
  frame.header = EncodeFrameHeader(type, static_cast<uint32_t>(payload.size()));
  queued_bytes_ += frame.bytes();
  send_queue_.push_back(std::move(frame));
}

void Connection::StartWrite() {
  if (writing_ || send_queue_.empty()) return;
  // Nothing leaves before the handshake is done (the server queues its verdict first).
  if (state_ == State::kConnecting || state_ == State::kHandshaking || state_ == State::kClosed) {
    return;
  }
  write_buffers_.clear();
  const size_t count = std::min(send_queue_.size(), limits::kWriteBatchFramesMax);
  for (size_t index = 0; index < count; ++index) {
    const OutgoingFrame& frame = send_queue_[index];
    write_buffers_.push_back(asio::buffer(frame.header));
    if (!frame.payload.empty()) {
      write_buffers_.push_back(asio::buffer(frame.payload.data(), frame.payload.size()));
    }
  }
  frames_in_flight_ = count;
  writing_ = true;
  sent_since_heartbeat_ = true;
  if (!corked_) {
    // While a backlog drains, let the kernel pack TLS records into full segments instead
    // of one packet (and one receiver wakeup) per 16 KiB record; uncorked when idle.
    corked_ = true;
    int on = 1;
    setsockopt(stream_.next_layer().native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
  }
  asio::async_write(
      stream_, write_buffers_,
      [self = shared_from_this()](const asio::error_code& error, size_t) { self->OnWrite(error); });
}

void Connection::OnWrite(const asio::error_code& error) {
  writing_ = false;
  if (state_ == State::kClosed) return;
  if (error) {
    Abort(close_reason_.value_or(
        Error(ErrorCode::kUnavailable,
              "writing to " + peer_address_ + " failed: " + DescribeAsioError(error))));
    return;
  }
  for (size_t index = 0; index < frames_in_flight_; ++index) {
    queued_bytes_ -= send_queue_.front().bytes();
    send_queue_.pop_front();
  }
  endpoint_->stats->frames_sent.fetch_add(frames_in_flight_, std::memory_order_relaxed);
  frames_in_flight_ = 0;
  if (endpoint_->handlers.on_sent) {
    endpoint_->handlers.on_sent(shared_from_this());
    if (state_ == State::kClosed) return;
  }

  if (wants_writable_ && state_ == State::kOpen &&
      queued_bytes_ <= options_.send_queue_bytes_max / 2 &&
      send_queue_.size() <= options_.send_queue_frames_max / 2) {
    wants_writable_ = false;
    if (endpoint_->handlers.on_writable) endpoint_->handlers.on_writable(shared_from_this());
    if (state_ == State::kClosed) return;
  }
  StartWrite();
  if (!writing_ && corked_) {
    corked_ = false;
    int off = 0;
    setsockopt(stream_.next_layer().native_handle(), IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
  }
  if (!writing_ && state_ == State::kClosing) {
    // Everything, close frame included, is on the wire: hang up our direction and wait
    // (under the close deadline) for the peer to hang up too.
    asio::error_code ignored;
    stream_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
}

// --- Closing --------------------------------------------------------------------------

void Connection::Close(std::string_view reason) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  if (state_ == State::kConnecting || state_ == State::kHandshaking) {
    Abort(
        Error(ErrorCode::kUnavailable, "closed before the session opened: " + std::string(reason)));
    return;
  }
  BeginClosing(Error(ErrorCode::kUnavailable, "closed locally: " + std::string(reason)), reason);
}

void Connection::BeginClosing(Error reason, std::optional<std::string_view> close_frame_reason) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  state_ = State::kClosing;
  close_reason_ = std::move(reason);
  heartbeat_timer_.cancel();
  ArmDeadline(Clock::now() + options_.close_timeout);
  if (close_frame_reason) {
    std::string_view text = close_frame_reason->substr(
        0, std::min(close_frame_reason->size(), limits::kCloseReasonBytesMax));
    EnqueueTransportFrame(kFrameTypeClose, AsBytes(text));
  }
  StartWrite();
  if (!writing_) {
    asio::error_code ignored;
    stream_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  StartRead();
}

void Connection::Refuse(const Refusal& refusal) {
  endpoint_->stats->CountRefusal(refusal.reason);
  spdlog::warn("transport refused side={} peer={} reason={} detail={}", SideName(side()),
               peer_address_, LogValue(RefusalReasonName(refusal.reason)),
               LogValue(refusal.detail));
  Abort(refusal.ToError());
}

void Connection::RefuseGracefully(const Refusal& refusal) {
  endpoint_->stats->CountRefusal(refusal.reason);
  spdlog::warn("transport refused side={} peer={} name={} reason={} detail={}", SideName(side()),
               peer_address_, LogValue(peer_identity_.name),
               LogValue(RefusalReasonName(refusal.reason)), LogValue(refusal.detail));
  BeginClosing(refusal.ToError(), refusal.Describe());
}

void Connection::Abort(Error reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  // Keep this object alive through the callbacks below even if they drop their pointers.
  ConnectionPointer self = shared_from_this();
  deadline_timer_.cancel();
  heartbeat_timer_.cancel();
  if (resolver_) resolver_->cancel();
  asio::error_code ignored;
  stream_.next_layer().close(ignored);  // pending operations complete with operation_aborted
  if (opened_) {
    endpoint_->stats->sessions_closed.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("transport session_closed side={} peer={} name={} reason={}", SideName(side()),
                  peer_address_, LogValue(peer_identity_.name), LogValue(reason.message()));
  }
  // Servers report only sessions the application saw; a dial always ends with on_close.
  if ((opened_ || side() == TlsSide::kClient) && endpoint_->handlers.on_close) {
    endpoint_->handlers.on_close(self, reason);
  }
  if (endpoint_->on_finished) endpoint_->on_finished(this);
  if (side() == TlsSide::kClient) {
    // A dial's handlers belong to this connection alone and often capture its pointer
    // (directly or through the application's session object); dropping them here breaks
    // that reference cycle. They are destroyed when this function returns.
    Handlers released = std::move(endpoint_->handlers);
    endpoint_->handlers = {};
  }
}

}  // namespace vigil::transport
