// A blocking client of a peer's client API (api/messages.h), for operators' commands, tools
// and tests: one mutually authenticated session, one request at a time.
//
//   VIGIL_ASSIGN_OR_RETURN(auto credentials, pki::LoadNodeDirectory(client_directory));
//   VIGIL_ASSIGN_OR_RETURN(auto client, ApiClient::Connect(credentials, "127.0.0.1", 7100));
//   VIGIL_ASSIGN_OR_RETURN(auto response, client->Submit(transaction, /*wait=*/true));
//
// Every call has a deadline (`timeout`); a lost session fails the call with kUnavailable and
// the reason the transport gave. The client runs its own event loop inside each call, so it
// needs no thread of its own.
//
// Thread-safety: none, except Cancel(); one thread uses one client.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/messages.h"
#include "pki/pki.h"
#include "transport/connection.h"

namespace vigil::api {

inline constexpr std::chrono::milliseconds kApiTimeoutDefault{30'000};

class ApiClient {
 public:
  // Refuses a peer whose certificate is not of role peer.
  static Expected<std::unique_ptr<ApiClient>> Connect(
      const pki::NodeCredentials& credentials, const std::string& host, uint16_t port,
      std::chrono::milliseconds timeout = kApiTimeoutDefault);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  Expected<SubmitResponse> Submit(ByteSpan transaction, bool wait_for_commit,
                                  std::chrono::milliseconds timeout = kApiTimeoutDefault);
  // height 0: the latest block.
  Expected<BlockResponse> GetBlock(uint64_t height,
                                   std::chrono::milliseconds timeout = kApiTimeoutDefault);
  Expected<TransactionResponse> GetTransaction(
      const ledger::TransactionId& id, std::chrono::milliseconds timeout = kApiTimeoutDefault);
  Expected<StatusResponse> Status(std::chrono::milliseconds timeout = kApiTimeoutDefault);
  // A device group's devices and activations (GroupResponse).
  Expected<GroupResponse> GetGroup(const std::string& group,
                                   std::chrono::milliseconds timeout = kApiTimeoutDefault);
  // One page of compliance verdicts ("" group: every group), devices after `start_after`.
  Expected<ComplianceResponse> GetCompliance(
      const std::string& group, std::optional<crypto::PublicKey> start_after,
      std::chrono::milliseconds timeout = kApiTimeoutDefault);
  // Streams committed blocks from `from_height` to `on_block` until it returns false. `idle`
  // bounds the wait for each next block (kTimeout when it passes).
  vigil::Status Subscribe(uint64_t from_height,
                          const std::function<bool(const CommittedBlock&)>& on_block,
                          std::chrono::milliseconds idle = kApiTimeoutDefault);

  // Ends the session from another thread: a call in progress (typically Subscribe) returns
  // kUnavailable promptly. The only member that is safe to call concurrently with the others.
  void Cancel();

  // Who answered (from the peer's certificate).
  const pki::Identity& peer_identity() const;

 private:
  struct Frame {
    transport::FrameType type = 0;
    Bytes payload;
  };
  struct Session;

  explicit ApiClient(std::unique_ptr<Session> session);
  // Sends one request and waits for the frame answering `request_id`.
  Expected<Frame> Call(transport::FrameType type, Bytes payload, uint64_t request_id,
                       std::chrono::milliseconds timeout);
  // Runs the event loop until a frame arrives, the session ends, or `timeout` passes.
  Expected<Frame> NextFrame(std::chrono::milliseconds timeout);

  std::unique_ptr<Session> session_;
  uint64_t next_request_id_ = 1;
};

}  // namespace vigil::api
