#include "gateway/gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/client.h"
#include "common/limits.h"
#include "gateway/bundle_cache.h"
#include "gateway/download_queue.h"
#include "gateway/ledger_follower.h"
#include "ledger/semver.h"
#include "transport/server.h"
#include "transport/tls.h"

namespace vigil::gateway {
namespace {

using Clock = std::chrono::steady_clock;

std::string ShortKey(const crypto::PublicKey& key) { return ToHex(key).substr(0, 12); }

// True when `candidate` is a newer semantic version than `current` (an empty or unparsable
// current version counts as nothing installed).
bool IsNewer(const std::string& candidate, const std::string& current) {
  if (current.empty()) return true;
  auto left = ledger::SemanticVersion::Parse(candidate);
  auto right = ledger::SemanticVersion::Parse(current);
  if (!left) return false;
  if (!right) return true;
  return left->ComparePrecedence(*right) == std::strong_ordering::greater;
}

// Test-only (GatewayOptions::test_claimed_group): the enrollment's body with another group.
void ClaimGroup(api::TransactionProof& enrollment, const std::string& group) {
  auto envelope = ledger::DecodeEnvelope(enrollment.transaction);
  if (!envelope) return;
  auto body = ledger::DecodeBody(envelope->kind, envelope->body);
  if (!body || !std::holds_alternative<ledger::EnrollDevice>(*body)) return;
  auto enroll = std::get<ledger::EnrollDevice>(*body);
  enroll.group = group;
  envelope->body = ledger::EncodeBody(enroll);
  enrollment.transaction = ledger::EncodeEnvelope(*envelope);
}

}  // namespace

class GatewayCore : public std::enable_shared_from_this<GatewayCore> {
 public:
  GatewayCore(asio::io_context& loop, GatewayOptions options, FetchFunction fetch,
              BundleCache cache)
      : loop_(loop),
        options_(std::move(options)),
        fetch_(std::move(fetch)),
        follower_(options_.genesis),
        cache_(std::move(cache)) {}

  Status Start();
  void Stop();
  uint16_t port() const { return server_ ? server_->port() : 0; }
  GatewayStatus status() const;

 private:
  // --- Sessions ---
  struct Session {
    transport::ConnectionPointer connection;
    crypto::PublicKey device{};
    std::vector<delivery::AppStatus> apps;  // from the device's latest Hello
    bool welcomed = false;
    std::set<std::pair<std::string, std::string>> offered;  // (app, version)
    // Releases the device asked for again (ReleaseRequest), offered once cached.
    std::set<std::pair<std::string, std::string>> requested;  // (app, version)
    std::string group;                // the device's group on the ledger (as of its connection)
    size_t queued_bytes_counted = 0;  // its connection's queued_bytes() in queued_bytes_total_
    size_t chunks_deferred = 0;       // its requests in deferred_chunks_
    // Its download of `download_bundle` in deferred_chunks_ (DownloadQueue::BeginDownload).
    uint64_t download_rank = 0;
    crypto::Sha256Digest download_bundle{};
  };
  // A chunk request waiting for the gateway-wide send budget (limits::kGatewayQueuedBytesMax).
  struct DeferredChunk {
    std::weak_ptr<transport::Connection> connection;
    delivery::ChunkRequest request;
  };
  // A release the ledger committed (any version: an activation may name an older one).
  struct KnownRelease {
    delivery::VerifiedRelease release;
    std::shared_ptr<const Bytes> offer;  // the encoded Offer frame
  };
  // The latest accepted activation of one (group, app) (seed 002).
  struct GroupActivation {
    delivery::VerifiedActivation activation;
    std::shared_ptr<const Bytes> frame;  // the encoded Activation frame
  };
  // The newest release of one app, as the ledger committed it.
  struct LatestRelease {
    delivery::VerifiedRelease release;
    std::shared_ptr<const Bytes> offer;  // the encoded Offer frame, shared by every session
  };
  struct PendingReport {
    std::weak_ptr<transport::Connection> connection;
    uint64_t request_id = 0;
    crypto::PublicKey device{};
    Clock::time_point deadline;
  };
  struct RelayItem {
    Bytes transaction;
    std::function<void(Expected<api::SubmitResponse>)> done;  // posted to the loop
  };

  void OnOpen(const transport::ConnectionPointer& connection);
  void OnFrame(const transport::ConnectionPointer& connection, transport::FrameType type,
               ByteSpan payload);
  void OnClose(const transport::ConnectionPointer& connection, const Error& reason);
  void OnHello(Session& session, const delivery::Hello& hello);
  void OnChunkRequest(Session& session, const delivery::ChunkRequest& request);
  void OnReleaseRequest(Session& session, const delivery::ReleaseRequest& request);
  // Offers what the device asked for again and is cached now (fetches the rest).
  void OfferRequested(Session& session);
  void ServeChunk(Session& session, const delivery::ChunkRequest& request);
  // Brings queued_bytes_total_ up to date with the session's send queue.
  void CountQueued(Session& session);
  // Serves deferred chunk requests while the budget allows, download by download
  // (gateway/download_queue.h).
  void ServeDeferredChunks();
  void ForgetSession(std::map<transport::Connection*, Session>::iterator session);
  void OnReport(Session& session, const delivery::Report& report);
  void SendReportResult(const transport::ConnectionPointer& connection,
                        delivery::ReportResult result, const crypto::PublicKey& device);
  void OfferWhatIsNew(Session& session);
  // Offers `release` unless the device runs or has staged it, or it was offered already;
  // fetches it first when it is not cached.
  void OfferRelease(Session& session, const delivery::AppStatus& app, const KnownRelease& known);
  // Every activation of the session's group, then the latest header (a new session).
  void SendActivations(Session& session);
  void Refuse(const transport::ConnectionPointer& connection, const std::string& reason);

  // --- Ledger ---
  void OnBlock(api::CommittedBlock committed);
  void AfterBlock(const FollowedBlock& followed);
  void OnPublished(const FollowedBlock& followed, size_t index,
                   const ledger::PublishRelease& publish, const crypto::PublicKey& publisher);
  void OnRevoked(const ledger::RevokeDevice& revoke, uint64_t height);
  void OnEnrolled(const FollowedBlock& followed, size_t index, const ledger::EnrollDevice& enroll);
  void OnActivated(const FollowedBlock& followed, size_t index,
                   const ledger::ActivateRelease& activate);
  // Sends the block's header to every device whose group had an activation pending before it.
  void SendHeaders(const FollowedBlock& followed);
  void ExpirePendingReports();
  void RememberCommit(const ledger::TransactionId& id, uint64_t height,
                      const ledger::TransactionResult& result);

  // --- Fetch ---
  bool AnyDeviceRuns(const std::string& app) const;
  void StartFetch(const delivery::VerifiedRelease& release);
  void OnFetched(const std::string& app, const delivery::VerifiedRelease& release, Status fetched,
                 std::chrono::microseconds download);

  // --- Helper threads ---
  void RunSubscription();
  void RunRelay();
  void Relay(RelayItem item);

  asio::io_context& loop_;
  GatewayOptions options_;
  FetchFunction fetch_;
  LedgerFollower follower_;
  BundleCache cache_;
  std::shared_ptr<transport::TlsContext> server_tls_;
  std::unique_ptr<transport::Server> server_;

  std::map<transport::Connection*, Session> sessions_;
  // Σ queued_bytes() of every session's connection, and the chunk requests waiting for it to
  // fall below limits::kGatewayQueuedBytesMax.
  size_t queued_bytes_total_ = 0;
  size_t queued_bytes_max_ =
      options_.queued_bytes_max != 0 ? options_.queued_bytes_max : limits::kGatewayQueuedBytesMax;
  DownloadQueue<DeferredChunk> deferred_chunks_;
  std::map<crypto::PublicKey, transport::Connection*> session_by_device_;
  std::map<std::string, LatestRelease> latest_by_app_;
  std::map<std::pair<std::string, std::string>, KnownRelease> releases_;  // (app, version)
  std::set<crypto::Sha256Digest> fetching_;
  // group → app → its latest accepted activation.
  std::map<std::string, std::map<std::string, GroupActivation>> activations_;
  // device → its accepted enrollment with the ledger proof, for its Welcome (~1.5 KB each; a
  // key is enrolled once, so the first is the only one).
  std::map<crypto::PublicKey, api::TransactionProof> enrollments_;
  // The latest block's header with its certificate (the encoded LedgerHeader frame), and the
  // height and time of the block before it.
  std::shared_ptr<const Bytes> last_header_;
  uint64_t previous_height_ = 0;
  int64_t previous_time_ms_ = 0;
  std::map<ledger::TransactionId, PendingReport> pending_reports_;
  // Device reports of the last blocks, for a relay answer that arrives after its block.
  struct RecentCommit {
    uint64_t height = 0;
    ledger::TransactionResult result;
  };
  std::map<ledger::TransactionId, RecentCommit> recent_commits_;
  std::deque<ledger::TransactionId> recent_commit_order_;
  GatewayStatus counters_;

  // Shared with the helper threads.
  std::atomic<bool> stopping_{false};
  // The subscription thread's client while it streams (guarded by mutex_), for Stop().
  api::ApiClient* subscription_client_ = nullptr;
  std::atomic<uint64_t> applied_height_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  size_t blocks_in_flight_ = 0;         // guarded by mutex_
  bool distrust_current_peer_ = false;  // guarded by mutex_
  std::deque<RelayItem> relay_queue_;   // guarded by mutex_
  std::thread subscription_thread_;
  std::thread relay_thread_;
  std::unique_ptr<asio::thread_pool> fetch_pool_;
};

// --- Start and stop ---

Status GatewayCore::Start() {
  if (options_.peers.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the gateway needs at least one peer to follow");
  }
  VIGIL_ASSIGN_OR_RETURN(server_tls_, transport::TlsContext::Create(options_.credentials,
                                                                    transport::TlsSide::kServer));
  transport::Handlers handlers;
  std::weak_ptr<GatewayCore> weak = weak_from_this();
  handlers.on_open = [weak](const transport::ConnectionPointer& connection) {
    if (auto self = weak.lock()) self->OnOpen(connection);
  };
  handlers.on_frame = [weak](const transport::ConnectionPointer& connection,
                             transport::FrameType type, ByteSpan payload) {
    if (auto self = weak.lock()) self->OnFrame(connection, type, payload);
  };
  handlers.on_close = [weak](const transport::ConnectionPointer& connection, const Error& reason) {
    if (auto self = weak.lock()) self->OnClose(connection, reason);
  };
  handlers.on_sent = [weak](const transport::ConnectionPointer& connection) {
    auto self = weak.lock();
    if (!self) return;
    if (auto found = self->sessions_.find(connection.get()); found != self->sessions_.end()) {
      self->CountQueued(found->second);
    }
    self->ServeDeferredChunks();
  };
  transport::ServerOptions server_options;
  server_options.listen_address = options_.listen_address;
  server_options.port = options_.port;
  server_options.connection.allowed_peer_roles = {pki::Role::kDevice};
  VIGIL_ASSIGN_OR_RETURN(
      server_, transport::Server::Create(loop_, server_tls_, server_options, std::move(handlers)));
  fetch_pool_ = std::make_unique<asio::thread_pool>(1);
  subscription_thread_ = std::thread([this] { RunSubscription(); });
  relay_thread_ = std::thread([this] { RunRelay(); });
  spdlog::info("gateway: serving devices on {}:{}, following {} peer(s) of chain {}",
               options_.listen_address, server_->port(), options_.peers.size(),
               follower_.chain_id());
  return Ok();
}

void GatewayCore::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
    if (subscription_client_ != nullptr) subscription_client_->Cancel();
  }
  if (server_) server_->Stop();
  if (subscription_thread_.joinable()) subscription_thread_.join();
  if (relay_thread_.joinable()) relay_thread_.join();
  if (fetch_pool_) fetch_pool_->join();
  sessions_.clear();
  session_by_device_.clear();
}

GatewayStatus GatewayCore::status() const {
  GatewayStatus status = counters_;
  status.ledger_height = follower_.height();
  status.devices_connected = sessions_.size();
  status.bundles_cached = cache_.count();
  status.cache_bytes = cache_.bytes();
  return status;
}

// --- Sessions ---

void GatewayCore::Refuse(const transport::ConnectionPointer& connection,
                         const std::string& reason) {
  ++counters_.sessions_refused;
  spdlog::warn("gateway: refused device {} from {}: {}",
               ShortKey(connection->peer_identity().public_key), connection->peer_address(),
               reason);
  connection->Close(reason);
}

void GatewayCore::OnOpen(const transport::ConnectionPointer& connection) {
  const crypto::PublicKey& device = connection->peer_identity().public_key;
  // The "trusted device list" is the ledger: the certificate only proves the fleet CA issued
  // it, the ledger says whether this key may be served now.
  auto record = ledger::GetDevice(follower_.state(), device);
  if (!record) {
    Refuse(connection, "device " + ShortKey(device) +
                           " is not enrolled on the ledger (as of block " +
                           std::to_string(follower_.height()) + ")");
    return;
  }
  if (record->status == ledger::DeviceStatus::kRevoked) {
    Refuse(connection, "device " + ShortKey(device) + " was revoked on the ledger at block " +
                           std::to_string(record->revoked_height));
    return;
  }
  if (auto existing = session_by_device_.find(device); existing != session_by_device_.end()) {
    // A device reconnecting before its old session timed out: the new one wins.
    existing->second->Close("replaced by a new session of the same device");
    ForgetSession(sessions_.find(existing->second));
  }
  Session session;
  session.connection = connection;
  session.device = device;
  session.group = record->group;
  sessions_[connection.get()] = std::move(session);
  session_by_device_[device] = connection.get();
  spdlog::info("gateway: device {} ({}, group {}) connected from {}", ShortKey(device),
               connection->peer_identity().name, record->group, connection->peer_address());
}

void GatewayCore::OnClose(const transport::ConnectionPointer& connection, const Error& reason) {
  auto session = sessions_.find(connection.get());
  if (session == sessions_.end()) return;
  spdlog::info("gateway: device {} disconnected: {}", ShortKey(session->second.device),
               reason.message());
  session_by_device_.erase(session->second.device);
  ForgetSession(session);
}

void GatewayCore::ForgetSession(std::map<transport::Connection*, Session>::iterator session) {
  if (session == sessions_.end()) return;
  queued_bytes_total_ -= session->second.queued_bytes_counted;
  sessions_.erase(session);  // its deferred requests are skipped: their connection is gone
  ServeDeferredChunks();
}

void GatewayCore::CountQueued(Session& session) {
  size_t now = session.connection->queued_bytes();
  queued_bytes_total_ = queued_bytes_total_ - session.queued_bytes_counted + now;
  session.queued_bytes_counted = now;
}

void GatewayCore::OnFrame(const transport::ConnectionPointer& connection, transport::FrameType type,
                          ByteSpan payload) {
  auto found = sessions_.find(connection.get());
  if (found == sessions_.end()) return;  // refused or replaced; its close is on the way
  Session& session = found->second;
  auto protocol_error = [&](const Error& error) {
    connection->Close("protocol error: " + error.message());
  };
  switch (type) {
    case delivery::kFrameHello: {
      auto hello = delivery::DecodeHello(payload);
      if (!hello) return protocol_error(hello.error());
      return OnHello(session, *hello);
    }
    case delivery::kFrameChunkRequest: {
      auto request = delivery::DecodeChunkRequest(payload);
      if (!request) return protocol_error(request.error());
      return OnChunkRequest(session, *request);
    }
    case delivery::kFrameReport: {
      auto report = delivery::DecodeReport(payload);
      if (!report) return protocol_error(report.error());
      return OnReport(session, *report);
    }
    case delivery::kFrameReleaseRequest: {
      auto request = delivery::DecodeReleaseRequest(payload);
      if (!request) return protocol_error(request.error());
      return OnReleaseRequest(session, *request);
    }
    default:
      connection->Close("protocol error: frame type " + std::to_string(type) +
                        " is not one a device sends");
  }
}

void GatewayCore::OnHello(Session& session, const delivery::Hello& hello) {
  session.apps = hello.apps;
  // A Hello is the device's current state: an offer it could not take then (busy activating
  // the previous release) is worth making again now.
  session.offered.clear();
  if (!session.welcomed) {
    auto enrollment = enrollments_.find(session.device);
    if (enrollment == enrollments_.end()) {  // only if the block that enrolled it did not prove
      Refuse(session.connection, "no proof of device " + ShortKey(session.device) +
                                     "'s enrollment (as of block " +
                                     std::to_string(follower_.height()) + ")");
      return;
    }
    delivery::Welcome welcome{
        .chain_id = follower_.chain_id(),
        .ledger_height = follower_.height(),
        .next_sequence = ledger::GetSequence(follower_.state(), session.device) + 1,
        .enrollment = enrollment->second};
    if (options_.test_claimed_group) ClaimGroup(welcome.enrollment, *options_.test_claimed_group);
    (void)session.connection->Send(delivery::kFrameWelcome, delivery::Encode(welcome));
    session.welcomed = true;
    SendActivations(session);
  }
  OfferWhatIsNew(session);
}

void GatewayCore::SendActivations(Session& session) {
  auto group = activations_.find(session.group);
  if (group == activations_.end()) return;
  for (const auto& [app, activation] : group->second) {
    (void)session.connection->Send(delivery::kFrameActivation, activation.frame);
  }
  if (last_header_) (void)session.connection->Send(delivery::kFrameLedgerHeader, last_header_);
}

void GatewayCore::OfferRelease(Session& session, const delivery::AppStatus& app,
                               const KnownRelease& known) {
  const delivery::VerifiedRelease& release = known.release;
  if (release.version == app.running_version || release.version == app.staged_version) return;
  if (!cache_.Contains(release.bundle_digest)) {
    StartFetch(release);  // offered once cached
    return;
  }
  if (!session.offered.emplace(app.app, release.version).second) return;
  if (session.connection->Send(delivery::kFrameOffer, known.offer)) {
    ++counters_.offers_sent;
    spdlog::info("gateway: offered {} {} to device {}", release.app, release.version,
                 ShortKey(session.device));
  }
}

void GatewayCore::OnReleaseRequest(Session& session, const delivery::ReleaseRequest& request) {
  // Only a release of an app the device runs, and only one the ledger committed: the offer
  // carries its proof, so the device believes nothing the gateway says.
  bool runs_app = std::ranges::any_of(
      session.apps, [&](const delivery::AppStatus& app) { return app.app == request.app; });
  if (!runs_app || !releases_.contains({request.app, request.version})) {
    spdlog::warn("gateway: device {} asked for {} {}, which {}", ShortKey(session.device),
                 request.app, request.version,
                 runs_app ? "the ledger does not have" : "is of an app it does not run");
    return;
  }
  spdlog::info("gateway: device {} asks for {} {} again (repair)", ShortKey(session.device),
               request.app, request.version);
  session.requested.emplace(request.app, request.version);
  OfferRequested(session);
}

void GatewayCore::OfferRequested(Session& session) {
  for (auto it = session.requested.begin(); it != session.requested.end();) {
    const KnownRelease& known = releases_.at(*it);
    if (!cache_.Contains(known.release.bundle_digest)) {
      StartFetch(known.release);  // offered once cached
      ++it;
      continue;
    }
    if (session.connection->Send(delivery::kFrameOffer, known.offer)) {
      ++counters_.offers_sent;
      spdlog::info("gateway: offered {} {} to device {} (asked for)", known.release.app,
                   known.release.version, ShortKey(session.device));
    }
    it = session.requested.erase(it);
  }
}

void GatewayCore::OfferWhatIsNew(Session& session) {
  OfferRequested(session);
  auto group = activations_.find(session.group);
  for (const auto& app : session.apps) {
    // The version an activation of its group names (an older one too: a downgrade), so the
    // device can stage it before (or as soon as possible after) it is effective.
    if (group != activations_.end()) {
      if (auto activation = group->second.find(app.app); activation != group->second.end()) {
        auto known = releases_.find({app.app, activation->second.activation.version});
        if (known != releases_.end()) OfferRelease(session, app, known->second);
      }
    }
    auto latest = latest_by_app_.find(app.app);
    if (latest == latest_by_app_.end()) continue;
    if (!IsNewer(latest->second.release.version, app.running_version)) continue;
    OfferRelease(session, app,
                 KnownRelease{.release = latest->second.release, .offer = latest->second.offer});
  }
}

void GatewayCore::OnChunkRequest(Session& session, const delivery::ChunkRequest& request) {
  if (session.download_rank == 0 || session.download_bundle != request.bundle_digest) {
    session.download_rank = deferred_chunks_.BeginDownload();
    session.download_bundle = request.bundle_digest;
  }
  if (deferred_chunks_.empty() && queued_bytes_total_ < queued_bytes_max_) {
    ServeChunk(session, request);
    return;
  }
  if (session.chunks_deferred >= limits::kGatewayDeferredChunksPerSessionMax) {
    session.connection->Close("more than " +
                              std::to_string(limits::kGatewayDeferredChunksPerSessionMax) +
                              " chunk requests waiting for the gateway's send budget");
    return;
  }
  ++session.chunks_deferred;
  ++counters_.chunks_deferred;
  deferred_chunks_.Push(session.download_rank,
                        DeferredChunk{.connection = session.connection, .request = request});
}

void GatewayCore::ServeDeferredChunks() {
  while (!deferred_chunks_.empty() && queued_bytes_total_ < queued_bytes_max_) {
    DeferredChunk deferred = deferred_chunks_.PopNext();
    auto connection = deferred.connection.lock();
    if (!connection) continue;
    auto found = sessions_.find(connection.get());
    if (found == sessions_.end()) continue;
    --found->second.chunks_deferred;
    ServeChunk(found->second, deferred.request);
  }
}

void GatewayCore::ServeChunk(Session& session, const delivery::ChunkRequest& request) {
  // The bytes go from the cache file straight into the frame (no buffer in between).
  Expected<size_t> length =
      cache_.ReadableLength(request.bundle_digest, request.offset, request.length);
  bool served = false;
  Bytes frame = delivery::EncodeChunk(
      request.request_id, request.offset, length.value_or(0),
      [&](std::span<uint8_t> out) -> Status {
        if (!length) return std::unexpected(length.error());
        VIGIL_RETURN_IF_ERROR(cache_.ReadInto(request.bundle_digest, request.offset, out));
        served = true;
        return Ok();
      });
  if (served) ++counters_.chunks_served;
  if (auto sent = session.connection->Send(delivery::kFrameChunk, std::move(frame)); !sent) {
    // A device must not ask for more than its send queue holds; one that does is cut off
    // rather than allowed to grow the gateway's memory.
    session.connection->Close("chunk requests beyond the session's send queue: " +
                              sent.error().message());
    return;
  }
  CountQueued(session);
}

void GatewayCore::OnReport(Session& session, const delivery::Report& report) {
  auto refuse_now = [&](ledger::ResultCode code, std::string reason) {
    SendReportResult(session.connection,
                     delivery::ReportResult{.request_id = report.request_id,
                                            .outcome = delivery::ReportOutcome::kRefused,
                                            .height = 0,
                                            .result = ledger::Refuse(code, std::move(reason)),
                                            .next_sequence = 0},
                     session.device);
  };
  auto envelope = ledger::DecodeEnvelope(report.transaction);
  if (!envelope) {
    return refuse_now(ledger::ResultCode::kMalformed, envelope.error().message());
  }
  // A device relays its own reports only: a gateway is not a way to speak for another device.
  if (envelope->signer != session.device ||
      envelope->kind != ledger::TransactionKind::kDeviceReport) {
    return refuse_now(ledger::ResultCode::kUnauthorized,
                      "a device may only relay device reports it signed itself");
  }
  size_t queued = 0;
  {
    std::lock_guard lock(mutex_);
    queued = relay_queue_.size();
  }
  if (queued >= limits::kGatewayRelayQueueMax ||
      pending_reports_.size() >= limits::kGatewayPendingReportsMax) {
    return refuse_now(ledger::ResultCode::kLimitReached,
                      "the gateway's relay queue is full; send the report again later");
  }
  ledger::TransactionId id = ledger::ComputeTransactionId(report.transaction);
  std::weak_ptr<transport::Connection> weak_connection = session.connection;
  crypto::PublicKey device = session.device;
  uint64_t request_id = report.request_id;
  std::weak_ptr<GatewayCore> weak = weak_from_this();
  Relay(RelayItem{
      .transaction = report.transaction,
      .done = [weak, weak_connection, device, request_id,
               id](Expected<api::SubmitResponse> response) {
        auto self = weak.lock();
        auto connection = weak_connection.lock();
        if (!self || !connection) return;
        ++self->counters_.reports_relayed;
        if (!response) {
          self->SendReportResult(
              connection,
              delivery::ReportResult{.request_id = request_id,
                                     .outcome = delivery::ReportOutcome::kRefused,
                                     .height = 0,
                                     .result = ledger::Refuse(
                                         ledger::ResultCode::kLimitReached,
                                         "no peer took the report: " + response.error().message()),
                                     .next_sequence = 0},
              device);
          return;
        }
        switch (response->outcome) {
          case api::SubmitOutcome::kRefused:
            self->SendReportResult(
                connection,
                delivery::ReportResult{.request_id = request_id,
                                       .outcome = delivery::ReportOutcome::kRefused,
                                       .height = 0,
                                       .result = response->result,
                                       .next_sequence = 0},
                device);
            return;
          case api::SubmitOutcome::kCommitted:
            self->SendReportResult(
                connection,
                delivery::ReportResult{.request_id = request_id,
                                       .outcome = delivery::ReportOutcome::kCommitted,
                                       .height = response->height,
                                       .result = response->result,
                                       .next_sequence = 0},
                device);
            return;
          case api::SubmitOutcome::kPending:
            // The peer has it; the block that commits it answers (AfterBlock) — unless that
            // block was applied before this answer came back.
            if (auto recent = self->recent_commits_.find(id);
                recent != self->recent_commits_.end()) {
              self->SendReportResult(
                  connection,
                  delivery::ReportResult{.request_id = request_id,
                                         .outcome = delivery::ReportOutcome::kCommitted,
                                         .height = recent->second.height,
                                         .result = recent->second.result,
                                         .next_sequence = 0},
                  device);
              return;
            }
            self->pending_reports_[id] =
                PendingReport{.connection = connection,
                              .request_id = request_id,
                              .device = device,
                              .deadline = Clock::now() + limits::kGatewayReportCommitTimeout};
            return;
        }
      }});
}

void GatewayCore::SendReportResult(const transport::ConnectionPointer& connection,
                                   delivery::ReportResult result, const crypto::PublicKey& device) {
  if (result.outcome == delivery::ReportOutcome::kCommitted) ++counters_.reports_committed;
  result.next_sequence = ledger::GetSequence(follower_.state(), device) + 1;
  (void)connection->Send(delivery::kFrameReportResult, delivery::Encode(result));
}

// --- Ledger ---

void GatewayCore::OnBlock(api::CommittedBlock committed) {
  {
    std::lock_guard lock(mutex_);
    --blocks_in_flight_;
    wake_.notify_all();
  }
  if (committed.height <= follower_.height()) return;  // sent again after a reconnection
  auto followed = follower_.Apply(committed);
  if (!followed) {
    ++counters_.blocks_refused;
    spdlog::error("gateway: a peer sent a block that does not verify, switching peers: {}",
                  followed.error().message());
    std::lock_guard lock(mutex_);
    distrust_current_peer_ = true;
    return;
  }
  applied_height_.store(follower_.height());
  AfterBlock(*followed);
}

void GatewayCore::AfterBlock(const FollowedBlock& followed) {
  const auto& results = followed.committed.results;
  for (size_t index = 0; index < followed.block.transactions.size(); ++index) {
    const ledger::TransactionId& id = followed.transaction_ids[index];
    RememberCommit(id, followed.committed.height, results[index]);
    if (auto pending = pending_reports_.find(id); pending != pending_reports_.end()) {
      if (auto connection = pending->second.connection.lock()) {
        SendReportResult(connection,
                         delivery::ReportResult{.request_id = pending->second.request_id,
                                                .outcome = delivery::ReportOutcome::kCommitted,
                                                .height = followed.committed.height,
                                                .result = results[index],
                                                .next_sequence = 0},
                         pending->second.device);
      }
      pending_reports_.erase(pending);
    }
    if (!results[index].ok()) continue;
    auto envelope = ledger::DecodeEnvelope(followed.block.transactions[index]);
    if (!envelope) continue;  // cannot happen: the follower executed it
    if (envelope->kind == ledger::TransactionKind::kPublishRelease) {
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (body) {
        OnPublished(followed, index, std::get<ledger::PublishRelease>(*body), envelope->signer);
      }
    } else if (envelope->kind == ledger::TransactionKind::kEnrollDevice) {
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (body) OnEnrolled(followed, index, std::get<ledger::EnrollDevice>(*body));
    } else if (envelope->kind == ledger::TransactionKind::kRevokeDevice) {
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (body) OnRevoked(std::get<ledger::RevokeDevice>(*body), followed.committed.height);
    } else if (envelope->kind == ledger::TransactionKind::kActivateRelease) {
      auto body = ledger::DecodeBody(envelope->kind, envelope->body);
      if (body) OnActivated(followed, index, std::get<ledger::ActivateRelease>(*body));
    }
  }
  SendHeaders(followed);
  ExpirePendingReports();
}

void GatewayCore::OnEnrolled(const FollowedBlock& followed, size_t index,
                             const ledger::EnrollDevice& enroll) {
  auto proof = api::ProveTransaction(followed.block, followed.committed, index);
  if (!proof) {
    spdlog::error("gateway: cannot prove the enrollment of device {}: {}",
                  ShortKey(enroll.device_key), proof.error().message());
    return;
  }
  enrollments_.emplace(enroll.device_key, std::move(*proof));
}

void GatewayCore::OnActivated(const FollowedBlock& followed, size_t index,
                              const ledger::ActivateRelease& activate) {
  auto proof = api::ProveTransaction(followed.block, followed.committed, index);
  if (!proof) {
    spdlog::error("gateway: cannot prove the activation of {} {}: {}", activate.app,
                  activate.version, proof.error().message());
    return;
  }
  delivery::Activation message{.activate = *proof};
  auto verified = delivery::VerifyActivation(follower_.validators(), follower_.chain_id(), message);
  if (!verified) {
    spdlog::error("gateway: the activation of {} {} does not verify: {}", activate.app,
                  activate.version, verified.error().message());
    return;
  }
  // Later in block order replaces earlier: the same on every replica and every device.
  auto frame = std::make_shared<const Bytes>(delivery::Encode(message));
  activations_[activate.group][activate.app] =
      GroupActivation{.activation = *verified, .frame = frame};
  spdlog::info("gateway: ledger block {} activates {} {} for group '{}' at {}",
               followed.committed.height, activate.app, activate.version, activate.group,
               verified->effective_time_ms != 0
                   ? "time " + std::to_string(verified->effective_time_ms) + " ms"
                   : "height " + std::to_string(verified->effective_height));
  for (auto& [connection, session] : sessions_) {
    if (session.group != activate.group) continue;
    (void)session.connection->Send(delivery::kFrameActivation, frame);
    OfferWhatIsNew(session);
  }
}

void GatewayCore::SendHeaders(const FollowedBlock& followed) {
  last_header_ = std::make_shared<const Bytes>(delivery::Encode(delivery::LedgerHeader{
      .header = followed.block.header, .certificate = followed.committed.certificate}));
  // Groups with an activation that was not effective before this block: their devices need
  // this header (it may be the one that makes it effective).
  std::set<std::string> waiting;
  for (const auto& [group, apps] : activations_) {
    for (const auto& [app, activation] : apps) {
      if (!activation.activation.IsEffectiveAt(previous_height_, previous_time_ms_)) {
        waiting.insert(group);
      }
    }
  }
  previous_height_ = followed.block.header.height;
  previous_time_ms_ = followed.block.header.time_ms;
  if (waiting.empty()) return;
  for (auto& [connection, session] : sessions_) {
    if (!session.welcomed || !waiting.contains(session.group)) continue;
    (void)session.connection->Send(delivery::kFrameLedgerHeader, last_header_);
  }
}

void GatewayCore::RememberCommit(const ledger::TransactionId& id, uint64_t height,
                                 const ledger::TransactionResult& result) {
  if (!recent_commits_.emplace(id, RecentCommit{.height = height, .result = result}).second) return;
  recent_commit_order_.push_back(id);
  if (recent_commit_order_.size() > limits::kGatewayRecentCommitsMax) {
    recent_commits_.erase(recent_commit_order_.front());
    recent_commit_order_.pop_front();
  }
}

void GatewayCore::OnPublished(const FollowedBlock& followed, size_t index,
                              const ledger::PublishRelease& publish,
                              const crypto::PublicKey& publisher) {
  auto proof = api::ProveTransaction(followed.block, followed.committed, index);
  if (!proof) {
    spdlog::error("gateway: cannot prove the publication of {} {}: {}", publish.app,
                  publish.version, proof.error().message());
    return;
  }
  auto& latest = latest_by_app_[publish.app];
  if (latest.offer) cache_.Unpin(latest.release.bundle_digest);
  bool newest = !latest.offer || IsNewer(publish.version, latest.release.version);
  delivery::VerifiedRelease previous = latest.release;
  std::shared_ptr<const Bytes> previous_offer = latest.offer;
  latest.release = delivery::VerifiedRelease{.app = publish.app,
                                             .version = publish.version,
                                             .bundle_digest = publish.bundle_digest,
                                             .bundle_size_bytes = publish.bundle_size_bytes,
                                             .manifest_root = publish.manifest_root,
                                             .publisher = publisher,
                                             .height = followed.committed.height};
  latest.offer =
      std::make_shared<const Bytes>(delivery::Encode(delivery::Offer{.publish = *proof}));
  releases_[{publish.app, publish.version}] =
      KnownRelease{.release = latest.release, .offer = latest.offer};
  if (!newest) {  // a patch of an older line: known, but not what devices are offered
    latest.release = previous;
    latest.offer = previous_offer;
  }
  cache_.Pin(latest.release.bundle_digest);
  spdlog::info("gateway: ledger block {} published {} {} (bundle {}, {} bytes)",
               followed.committed.height, publish.app, publish.version,
               ToHex(publish.bundle_digest).substr(0, 12), publish.bundle_size_bytes);
  if (cache_.Contains(publish.bundle_digest)) {
    for (auto& [connection, session] : sessions_) OfferWhatIsNew(session);
  } else if (AnyDeviceRuns(publish.app)) {
    StartFetch(latest.release);
  }
}

void GatewayCore::OnRevoked(const ledger::RevokeDevice& revoke, uint64_t height) {
  auto session = session_by_device_.find(revoke.device_key);
  if (session == session_by_device_.end()) return;
  spdlog::warn("gateway: device {} revoked at block {}; closing its session",
               ShortKey(revoke.device_key), height);
  session->second->Close("device revoked on the ledger at block " + std::to_string(height) + ": " +
                         revoke.reason);
}

void GatewayCore::ExpirePendingReports() {
  auto now = Clock::now();
  std::erase_if(pending_reports_, [&](const auto& entry) {
    const PendingReport& pending = entry.second;
    if (pending.deadline > now) return false;
    if (auto connection = pending.connection.lock()) {
      SendReportResult(
          connection,
          delivery::ReportResult{.request_id = pending.request_id,
                                 .outcome = delivery::ReportOutcome::kRefused,
                                 .height = 0,
                                 .result = ledger::Refuse(ledger::ResultCode::kLimitReached,
                                                          "not committed in time; send it again"),
                                 .next_sequence = 0},
          pending.device);
    }
    return true;
  });
}

// --- Fetch ---

bool GatewayCore::AnyDeviceRuns(const std::string& app) const {
  for (const auto& [connection, session] : sessions_) {
    for (const auto& status : session.apps) {
      if (status.app == app) return true;
    }
  }
  return false;
}

void GatewayCore::StartFetch(const delivery::VerifiedRelease& release) {
  if (fetching_.contains(release.bundle_digest)) return;
  if (cache_.Contains(release.bundle_digest)) return;
  fetching_.insert(release.bundle_digest);
  std::string app = release.app;
  std::filesystem::path destination = cache_.TemporaryPathFor(release.bundle_digest);
  std::weak_ptr<GatewayCore> weak = weak_from_this();
  spdlog::info("gateway: fetching {} {} ({} bytes)", release.app, release.version,
               release.bundle_size_bytes);
  asio::post(*fetch_pool_, [weak, app, release, destination, fetch = fetch_] {
    auto self = weak.lock();
    if (!self || self->stopping_) return;
    auto started = Clock::now();
    Status fetched = fetch(release, destination);
    auto download = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    asio::post(self->loop_, [weak, app, release, fetched, download] {
      if (auto core = weak.lock()) core->OnFetched(app, release, fetched, download);
    });
  });
}

void GatewayCore::OnFetched(const std::string& app, const delivery::VerifiedRelease& release,
                            Status fetched, std::chrono::microseconds download) {
  fetching_.erase(release.bundle_digest);
  auto started = Clock::now();
  Status inserted = fetched ? cache_.Insert(release.bundle_digest, release.bundle_size_bytes,
                                            cache_.TemporaryPathFor(release.bundle_digest))
                            : fetched;
  auto verification = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  if (!inserted) {
    spdlog::warn("gateway: fetching {} {} failed: {}; retrying in {} ms", release.app,
                 release.version, inserted.error().message(), options_.fetch_retry_delay.count());
    auto timer = std::make_shared<asio::steady_timer>(loop_, options_.fetch_retry_delay);
    std::weak_ptr<GatewayCore> weak = weak_from_this();
    timer->async_wait([weak, timer, app, release](const std::error_code& error) {
      auto self = weak.lock();
      if (error || !self || self->stopping_) return;
      if (self->AnyDeviceRuns(app)) self->StartFetch(release);
    });
    return;
  }
  counters_.fetches.push_back(GatewayStatus::Fetch{.app = release.app,
                                                   .version = release.version,
                                                   .download = download,
                                                   .verification = verification});
  if (counters_.fetches.size() > limits::kGatewayFetchHistoryMax) {
    counters_.fetches.erase(counters_.fetches.begin());
  }
  spdlog::info("gateway: {} {} cached (download {} ms, verification {} ms)", release.app,
               release.version, download.count() / 1000, verification.count() / 1000);
  for (auto& [connection, session] : sessions_) OfferWhatIsNew(session);
}

// --- Helper threads ---

void GatewayCore::RunSubscription() {
  size_t peer_index = 0;
  while (!stopping_) {
    const Endpoint& peer = options_.peers[peer_index % options_.peers.size()];
    {
      // Start from the last applied block: wait for what was posted to be applied first.
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || blocks_in_flight_ == 0; });
      distrust_current_peer_ = false;
    }
    if (stopping_) return;
    auto client = api::ApiClient::Connect(options_.credentials, peer.host, peer.port,
                                          limits::kConnectTimeoutDefault);
    if (!client) {
      spdlog::warn("gateway: cannot reach peer {}: {}", peer.ToString(), client.error().message());
      ++peer_index;
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, limits::kGatewayPeerRetryDelay, [&] { return stopping_.load(); });
      continue;
    }
    uint64_t from = applied_height_.load() + 1;
    std::weak_ptr<GatewayCore> weak = weak_from_this();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      subscription_client_ = client->get();  // Stop() cancels it rather than wait for a block
    }
    Status ended = (*client)->Subscribe(
        from,
        [&](const api::CommittedBlock& block) {
          std::unique_lock lock(mutex_);
          wake_.wait(lock, [&] {
            return stopping_ || blocks_in_flight_ < limits::kGatewayBlocksInFlightMax;
          });
          if (stopping_ || distrust_current_peer_) return false;
          ++blocks_in_flight_;
          asio::post(loop_, [weak, block] {
            if (auto self = weak.lock()) self->OnBlock(block);
          });
          return true;
        },
        limits::kGatewaySubscriptionIdle);
    {
      std::lock_guard lock(mutex_);
      subscription_client_ = nullptr;
    }
    if (stopping_) return;
    bool distrusted = false;
    {
      std::lock_guard lock(mutex_);
      distrusted = distrust_current_peer_;
    }
    spdlog::info("gateway: subscription to {} ended ({}); {}", peer.ToString(),
                 ended ? std::string("by the gateway") : ended.error().message(),
                 distrusted ? "trying the next peer" : "reconnecting");
    if (distrusted || !ended) ++peer_index;
  }
}

void GatewayCore::Relay(RelayItem item) {
  std::lock_guard lock(mutex_);
  relay_queue_.push_back(std::move(item));
  wake_.notify_all();
}

void GatewayCore::RunRelay() {
  size_t peer_index = 0;
  std::unique_ptr<api::ApiClient> client;
  while (true) {
    RelayItem item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !relay_queue_.empty(); });
      if (stopping_) return;
      item = std::move(relay_queue_.front());
      relay_queue_.pop_front();
    }
    Expected<api::SubmitResponse> response =
        Fail(ErrorCode::kUnavailable, "no peer could be reached");
    // Each peer gets one chance per report; a report is not worth more waiting than that.
    for (size_t attempt = 0; attempt < options_.peers.size() && !stopping_; ++attempt) {
      if (!client) {
        const Endpoint& peer = options_.peers[peer_index % options_.peers.size()];
        auto connected = api::ApiClient::Connect(options_.credentials, peer.host, peer.port,
                                                 limits::kConnectTimeoutDefault);
        if (!connected) {
          response = std::unexpected(connected.error());
          ++peer_index;
          continue;
        }
        client = std::move(*connected);
      }
      response = client->Submit(item.transaction, /*wait_for_commit=*/false);
      if (response) break;
      client.reset();  // the session failed; the next attempt dials the next peer
      ++peer_index;
    }
    asio::post(loop_, [done = std::move(item.done), response = std::move(response)]() mutable {
      done(std::move(response));
    });
  }
}

// --- Gateway ---

Expected<std::unique_ptr<Gateway>> Gateway::Start(asio::io_context& loop, GatewayOptions options,
                                                  FetchFunction fetch) {
  if (options.cache_bytes_max == 0) options.cache_bytes_max = limits::kGatewayCacheBytesDefault;
  VIGIL_ASSIGN_OR_RETURN(BundleCache cache,
                         BundleCache::Open(options.cache_directory, options.cache_bytes_max));
  auto core =
      std::make_shared<GatewayCore>(loop, std::move(options), std::move(fetch), std::move(cache));
  VIGIL_RETURN_IF_ERROR(core->Start());
  return std::unique_ptr<Gateway>(new Gateway(std::move(core)));
}

Gateway::~Gateway() { Stop(); }
uint16_t Gateway::port() const { return core_->port(); }
GatewayStatus Gateway::status() const { return core_->status(); }
void Gateway::Stop() { core_->Stop(); }

}  // namespace vigil::gateway
