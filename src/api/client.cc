#include "api/client.h"

#include <asio/post.hpp>

#include <asio/steady_timer.hpp>

#include "transport/client.h"
#include "transport/tls.h"

namespace vigil::api {

struct ApiClient::Session {
  asio::io_context io_context;
  std::shared_ptr<transport::TlsContext> tls;
  transport::ConnectionPointer connection;
  bool opened = false;
  std::optional<Error> closed;
  std::deque<Frame> received;
};

namespace {

template <typename Response>
Expected<Response> DecodeAnswer(transport::FrameType expected_type, const auto& frame,
                                Expected<Response> (*decode)(ByteSpan)) {
  if (frame.type == kFrameErrorResponse) {
    VIGIL_ASSIGN_OR_RETURN(ErrorResponse error, DecodeErrorResponse(frame.payload));
    return Fail(ErrorCode::kRefused, "the peer refused the request: " + error.message);
  }
  if (frame.type != expected_type) {
    return Fail(ErrorCode::kCorruption,
                "the peer answered with frame type " + std::to_string(frame.type) +
                    " instead of " + std::to_string(expected_type));
  }
  auto decoded = decode(frame.payload);
  if (!decoded) {
    return std::unexpected(decoded.error().WithContext("the peer's answer does not decode"));
  }
  return decoded;
}

}  // namespace


Expected<std::unique_ptr<ApiClient>> ApiClient::Connect(const pki::NodeCredentials& credentials,
                                                        const std::string& host, uint16_t port,
                                                        std::chrono::milliseconds timeout) {
  auto session = std::make_unique<Session>();
  VIGIL_ASSIGN_OR_RETURN(session->tls,
                         transport::TlsContext::Create(credentials, transport::TlsSide::kClient));
  transport::DialOptions options;
  options.host = host;
  options.port = port;
  options.connect_timeout = timeout;
  options.connection.allowed_peer_roles = {pki::Role::kPeer};
  options.connection.frame_payload_bytes_max = limits::kFramePayloadBytesMax;
  options.connection.send_queue_bytes_max = 2 * limits::kFramePayloadBytesMax;
  Session* raw = session.get();
  transport::Handlers handlers;
  handlers.on_open = [raw](const transport::ConnectionPointer&) { raw->opened = true; };
  handlers.on_frame = [raw](const transport::ConnectionPointer&, transport::FrameType type,
                            ByteSpan payload) {
    raw->received.push_back(Frame{type, Bytes(payload.begin(), payload.end())});
  };
  handlers.on_close = [raw](const transport::ConnectionPointer&, const Error& reason) {
    raw->closed = reason;
  };
  session->connection =
      transport::Dial(session->io_context, session->tls, std::move(options), std::move(handlers));
  if (!session->connection) {
    return Fail(ErrorCode::kInternal, "could not create a TLS connection");
  }
  while (!session->opened && !session->closed) {
    if (session->io_context.run_one() == 0) break;
  }
  if (!session->opened) {
    std::string reason = session->closed ? session->closed->message() : "no answer";
    return Fail(ErrorCode::kUnavailable,
                "cannot reach the peer at " + host + ":" + std::to_string(port) + ": " + reason);
  }
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(session)));
}

ApiClient::ApiClient(std::unique_ptr<Session> session) : session_(std::move(session)) {}

ApiClient::~ApiClient() {
  if (session_ && session_->connection && session_->connection->is_open()) {
    session_->connection->Close("client done");
    // Let the close frame go out; bounded by the transport's close deadline.
    session_->io_context.run_for(std::chrono::milliseconds(200));
  }
}

const pki::Identity& ApiClient::peer_identity() const {
  return session_->connection->peer_identity();
}

void ApiClient::Cancel() {
  // io_context::post is thread-safe; the close runs inside the owner's next run_one_for.
  asio::post(session_->io_context, [connection = session_->connection] {
    if (connection) connection->Close("cancelled by the client");
  });
}

Expected<ApiClient::Frame> ApiClient::NextFrame(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (session_->received.empty()) {
    if (session_->closed) {
      return Fail(ErrorCode::kUnavailable, "the session ended: " + session_->closed->message());
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Fail(ErrorCode::kTimeout, "no answer from the peer within " +
                                           std::to_string(timeout.count()) + " ms");
    }
    session_->io_context.restart();
    session_->io_context.run_one_for(deadline - now);
  }
  Frame frame = std::move(session_->received.front());
  session_->received.pop_front();
  return frame;
}

Expected<ApiClient::Frame> ApiClient::Call(transport::FrameType type, Bytes payload,
                                           uint64_t request_id,
                                           std::chrono::milliseconds timeout) {
  if (session_->closed) {
    return Fail(ErrorCode::kUnavailable, "the session ended: " + session_->closed->message());
  }
  VIGIL_RETURN_IF_ERROR(session_->connection->Send(type, std::move(payload)));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    VIGIL_ASSIGN_OR_RETURN(Frame frame, NextFrame(std::max(left, std::chrono::milliseconds(0))));
    if (RequestIdOf(frame.type, frame.payload) == request_id) return frame;
    // Anything else (a stale answer to an abandoned call) is dropped.
  }
}

Expected<SubmitResponse> ApiClient::Submit(ByteSpan transaction, bool wait_for_commit,
                                           std::chrono::milliseconds timeout) {
  SubmitRequest request{.request_id = next_request_id_++,
                        .transaction = Bytes(transaction.begin(), transaction.end()),
                        .wait_for_commit = wait_for_commit};
  VIGIL_ASSIGN_OR_RETURN(Frame frame,
                         Call(kFrameSubmitRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameSubmitResponse, frame, &DecodeSubmitResponse);
}

Expected<BlockResponse> ApiClient::GetBlock(uint64_t height, std::chrono::milliseconds timeout) {
  BlockRequest request{.request_id = next_request_id_++, .height = height};
  VIGIL_ASSIGN_OR_RETURN(Frame frame,
                         Call(kFrameBlockRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameBlockResponse, frame, &DecodeBlockResponse);
}

Expected<TransactionResponse> ApiClient::GetTransaction(const ledger::TransactionId& id,
                                                        std::chrono::milliseconds timeout) {
  TransactionRequest request{.request_id = next_request_id_++, .transaction_id = id};
  VIGIL_ASSIGN_OR_RETURN(
      Frame frame, Call(kFrameTransactionRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameTransactionResponse, frame, &DecodeTransactionResponse);
}

Expected<GroupResponse> ApiClient::GetGroup(const std::string& group,
                                            std::chrono::milliseconds timeout) {
  GroupRequest request{.request_id = next_request_id_++, .group = group};
  VIGIL_ASSIGN_OR_RETURN(Frame frame,
                         Call(kFrameGroupRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameGroupResponse, frame, &DecodeGroupResponse);
}

Expected<ComplianceResponse> ApiClient::GetCompliance(const std::string& group,
                                                      std::optional<crypto::PublicKey> start_after,
                                                      std::chrono::milliseconds timeout) {
  ComplianceRequest request{
      .request_id = next_request_id_++, .group = group, .start_after = start_after};
  VIGIL_ASSIGN_OR_RETURN(
      Frame frame, Call(kFrameComplianceRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameComplianceResponse, frame, &DecodeComplianceResponse);
}

Expected<StatusResponse> ApiClient::Status(std::chrono::milliseconds timeout) {
  StatusRequest request{.request_id = next_request_id_++};
  VIGIL_ASSIGN_OR_RETURN(Frame frame,
                         Call(kFrameStatusRequest, Encode(request), request.request_id, timeout));
  return DecodeAnswer(kFrameStatusResponse, frame, &DecodeStatusResponse);
}

vigil::Status ApiClient::Subscribe(uint64_t from_height,
                                   const std::function<bool(const CommittedBlock&)>& on_block,
                                   std::chrono::milliseconds idle) {
  SubscribeRequest request{.request_id = next_request_id_++, .from_height = from_height};
  VIGIL_RETURN_IF_ERROR(session_->connection->Send(kFrameSubscribeRequest, Encode(request)));
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(Frame frame, NextFrame(idle));
    if (frame.type == kFrameErrorResponse) {
      VIGIL_ASSIGN_OR_RETURN(ErrorResponse error, DecodeErrorResponse(frame.payload));
      return Fail(ErrorCode::kRefused, "the peer refused the subscription: " + error.message);
    }
    if (frame.type != kFrameBlockEvent) continue;
    VIGIL_ASSIGN_OR_RETURN(CommittedBlock block, DecodeCommittedBlock(frame.payload));
    if (!on_block(block)) return Ok();
  }
}

}  // namespace vigil::api
