#include "delivery/device_session.h"

#include <fcntl.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "common/file.h"
#include "crypto/crypto.h"
#include "ledger/semver.h"
#include "ledger/transaction.h"
#include "transport/tls.h"

namespace vigil::delivery {
namespace {

using Clock = std::chrono::steady_clock;

// Feeds the first `length` bytes of the file `fd` to `hasher` (a download resumed from an
// earlier run); false when they cannot all be read.
bool HashPrefix(int fd, uint64_t length, crypto::Sha256Hasher& hasher) {
  std::vector<uint8_t> buffer(limits::kFileHashBufferBytes);
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
    ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    hasher.Update(ByteSpan(buffer.data(), static_cast<size_t>(got)));
    done += static_cast<uint64_t>(got);
  }
  return true;
}

}  // namespace

class DeviceSessionCore : public std::enable_shared_from_this<DeviceSessionCore> {
 public:
  DeviceSessionCore(asio::io_context& io_context, DeviceSessionOptions options,
                    DeviceSessionCallbacks callbacks)
      : io_context_(io_context),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        validators_(ledger::GenesisValidatorSet(options_.genesis)) {}

  ~DeviceSessionCore() { CloseDownloadFile(); }

  void SetActivationCallbacks(ActivationCallbacks callbacks) { activation_ = std::move(callbacks); }
  Status Start();
  void Stop();
  void SendHello();
  void RequestRelease(const std::string& app, const std::string& version);
  void SendReport(ledger::DeviceReport report, DeviceSession::ReportDone done);
  bool connected() const { return connection_ && connection_->is_open(); }
  bool welcomed() const { return connected() && welcomed_; }
  size_t reports_waiting() const { return reports_.size(); }

 private:
  struct Download {
    VerifiedRelease release;
    std::filesystem::path partial;
    uint64_t written = 0;    // bytes on disk, contiguous from 0
    uint64_t requested = 0;  // bytes asked for so far
    uint32_t in_flight = 0;
    uint32_t restarts = 0;  // wrong bytes from the gateway
    Clock::time_point started;
    // SHA-256 of the `written` bytes, fed as they arrive: the finished file is not read again
    // to be checked.
    crypto::Sha256Hasher hasher;
  };
  struct QueuedReport {
    ledger::DeviceReport report;
    DeviceSession::ReportDone done;
    uint32_t attempts = 0;
  };

  void OnOpen(const transport::ConnectionPointer& connection);
  void OnFrame(transport::FrameType type, ByteSpan payload);
  void OnClose(const Error& reason);
  void OnOffer(const Offer& offer);
  void OnChunk(const ChunkView& chunk);
  void OnReportResult(const ReportResult& result);
  void Event(const std::string& text) {
    if (callbacks_.on_event) callbacks_.on_event(text);
  }

  void StartDownload(const VerifiedRelease& release);
  void RequestChunks();
  void FinishDownload();
  void RestartDownload(const std::string& why);
  void CloseDownloadFile();
  std::filesystem::path BundlePath(const crypto::Sha256Digest& digest) const {
    return options_.downloads_directory / (ToHex(digest) + ".bundle");
  }

  void SendNextReport();
  void RetryReportLater();

  asio::io_context& io_context_;
  DeviceSessionOptions options_;
  DeviceSessionCallbacks callbacks_;
  ActivationCallbacks activation_;
  consensus::ValidatorSet validators_;
  std::unique_ptr<transport::ReconnectingClient> client_;
  transport::ConnectionPointer connection_;
  bool welcomed_ = false;
  std::string group_;           // from the Welcome's proven enrollment
  uint64_t next_sequence_ = 0;  // 0: unknown until the Welcome
  uint64_t next_request_id_ = 1;

  void SendReleaseRequests();

  std::optional<Download> download_;
  std::deque<VerifiedRelease> waiting_downloads_;
  std::set<std::pair<std::string, std::string>> requested_releases_;  // (app, version)
  int download_fd_ = -1;

  std::deque<QueuedReport> reports_;
  std::optional<uint64_t> report_in_flight_;  // request id
  std::unique_ptr<asio::steady_timer> report_retry_timer_;
};

Status DeviceSessionCore::Start() {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(options_.downloads_directory, 0700));
  VIGIL_ASSIGN_OR_RETURN(
      auto tls, transport::TlsContext::Create(options_.credentials, transport::TlsSide::kClient));
  transport::DialOptions dial;
  dial.host = options_.gateway_host;
  dial.port = options_.gateway_port;
  dial.connection.allowed_peer_roles = {pki::Role::kGateway};
  dial.connection.expected_peer_name = options_.gateway_name;
  transport::Handlers handlers;
  std::weak_ptr<DeviceSessionCore> weak = weak_from_this();
  handlers.on_open = [weak](const transport::ConnectionPointer& connection) {
    if (auto self = weak.lock()) self->OnOpen(connection);
  };
  handlers.on_frame = [weak](const transport::ConnectionPointer&, transport::FrameType type,
                             ByteSpan payload) {
    if (auto self = weak.lock()) self->OnFrame(type, payload);
  };
  handlers.on_close = [weak](const transport::ConnectionPointer&, const Error& reason) {
    if (auto self = weak.lock()) self->OnClose(reason);
  };
  client_ = std::make_unique<transport::ReconnectingClient>(io_context_, std::move(tls),
                                                            std::move(dial), std::move(handlers),
                                                            options_.reconnect, options_.seed);
  client_->Start();
  return Ok();
}

void DeviceSessionCore::Stop() {
  if (client_) client_->Stop();
  client_.reset();
  connection_.reset();
  if (report_retry_timer_) report_retry_timer_->cancel();
  CloseDownloadFile();
}

// --- Session ---

void DeviceSessionCore::OnOpen(const transport::ConnectionPointer& connection) {
  connection_ = connection;
  welcomed_ = false;
  Event("connected to gateway " + connection->peer_identity().name + " at " +
        connection->peer_address());
  SendHello();
}

void DeviceSessionCore::OnClose(const Error& reason) {
  if (connection_) Event("gateway session closed: " + reason.message());
  connection_.reset();
  welcomed_ = false;
  // What was in flight is asked for again on the next session.
  if (download_) {
    download_->requested = download_->written;
    download_->in_flight = 0;
  }
  if (report_in_flight_) {
    report_in_flight_.reset();
    if (!reports_.empty()) ++reports_.front().attempts;
  }
}

void DeviceSessionCore::SendHello() {
  if (!connected()) return;
  Hello hello{.apps =
                  callbacks_.app_statuses ? callbacks_.app_statuses() : std::vector<AppStatus>{}};
  (void)connection_->Send(kFrameHello, Encode(hello));
}

void DeviceSessionCore::OnFrame(transport::FrameType type, ByteSpan payload) {
  auto protocol_error = [&](const Error& error) {
    Event("protocol error from the gateway: " + error.message());
    if (connection_) connection_->Close("protocol error: " + error.message());
  };
  switch (type) {
    case kFrameWelcome: {
      auto welcome = DecodeWelcome(payload);
      if (!welcome) return protocol_error(welcome.error());
      if (welcome->chain_id != options_.genesis.chain_id) {
        return protocol_error(Error(ErrorCode::kRefused, "the gateway serves chain '" +
                                                             welcome->chain_id + "', not '" +
                                                             options_.genesis.chain_id + "'"));
      }
      auto group = VerifyEnrollment(validators_, options_.genesis.chain_id,
                                    options_.credentials.key.public_key(), welcome->enrollment);
      if (!group) {
        return protocol_error(group.error().WithContext("the gateway's welcome"));
      }
      welcomed_ = true;
      next_sequence_ = welcome->next_sequence;
      group_ = std::move(*group);
      if (activation_.on_welcome) activation_.on_welcome(group_);
      SendReleaseRequests();
      if (download_) RequestChunks();
      SendNextReport();
      return;
    }
    case kFrameOffer: {
      auto offer = DecodeOffer(payload);
      if (!offer) return protocol_error(offer.error());
      return OnOffer(*offer);
    }
    case kFrameChunk: {
      auto chunk = DecodeChunkView(payload);
      if (!chunk) return protocol_error(chunk.error());
      return OnChunk(*chunk);
    }
    case kFrameReportResult: {
      auto result = DecodeReportResult(payload);
      if (!result) return protocol_error(result.error());
      return OnReportResult(*result);
    }
    case kFrameActivation: {
      auto activation = DecodeActivation(payload);
      if (!activation) return protocol_error(activation.error());
      auto verified = VerifyActivation(validators_, options_.genesis.chain_id, *activation);
      if (!verified) return Event("refused an activation: " + verified.error().message());
      if (verified->group != group_) {
        return Event("refused an activation for group '" + verified->group +
                     "': this device is of '" + group_ + "'");
      }
      if (activation_.on_activation) activation_.on_activation(*verified);
      return;
    }
    case kFrameLedgerHeader: {
      auto header = DecodeLedgerHeader(payload);
      if (!header) return protocol_error(header.error());
      if (auto verified = VerifyLedgerHeader(validators_, options_.genesis.chain_id, *header);
          !verified) {
        return Event("refused a ledger header: " + verified.error().message());
      }
      if (activation_.on_ledger_header) activation_.on_ledger_header(header->header);
      return;
    }
    default:
      return protocol_error(
          Error(ErrorCode::kInvalidArgument,
                "frame type " + std::to_string(type) + " is not one a gateway sends"));
  }
}

// --- Offers and downloads ---

void DeviceSessionCore::RequestRelease(const std::string& app, const std::string& version) {
  if (!requested_releases_.emplace(app, version).second) return;  // asked already
  Event("asking the gateway for " + app + " " + version + " again");
  if (connected() && welcomed_) {
    (void)connection_->Send(kFrameReleaseRequest,
                            Encode(ReleaseRequest{.app = app, .version = version}));
  }
}

void DeviceSessionCore::SendReleaseRequests() {
  for (const auto& [app, version] : requested_releases_) {
    (void)connection_->Send(kFrameReleaseRequest,
                            Encode(ReleaseRequest{.app = app, .version = version}));
  }
}

void DeviceSessionCore::OnOffer(const Offer& offer) {
  auto release = VerifyOffer(validators_, options_.genesis.chain_id, offer);
  if (!release) {
    Event("refused an offer: " + release.error().message());
    return;
  }
  requested_releases_.erase({release->app, release->version});
  if (callbacks_.accept_offer && !callbacks_.accept_offer(*release)) return;
  if (download_ && download_->release.bundle_digest == release->bundle_digest) return;
  for (const auto& waiting : waiting_downloads_) {
    if (waiting.bundle_digest == release->bundle_digest) return;
  }
  if (download_) {
    waiting_downloads_.push_back(*release);
    return;
  }
  StartDownload(*release);
}

void DeviceSessionCore::StartDownload(const VerifiedRelease& release) {
  std::filesystem::path bundle = BundlePath(release.bundle_digest);
  std::error_code error;
  if (std::filesystem::exists(bundle, error)) {
    // Downloaded before (e.g. by an earlier run): still checked, never trusted.
    auto digest = crypto::Sha256OfFile(bundle);
    if (digest && *digest == release.bundle_digest) {
      if (callbacks_.on_bundle) callbacks_.on_bundle(release, bundle, std::chrono::microseconds(0));
      return;
    }
    std::filesystem::remove(bundle, error);
  }
  Download download{
      .release = release,
      .partial = options_.downloads_directory / (ToHex(release.bundle_digest) + ".partial"),
      .written = 0,
      .requested = 0,
      .in_flight = 0,
      .restarts = 0,
      .started = Clock::now(),
      .hasher = crypto::Sha256Hasher()};
  download_fd_ = ::open(download.partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (download_fd_ < 0) {
    Event("cannot open " + download.partial.string() + ": " + std::strerror(errno));
    return;
  }
  // Resume: what an earlier session or run wrote is kept (chunks are written in order, so
  // the file is a prefix of the bundle); anything beyond the bundle's size is cut.
  off_t size = ::lseek(download_fd_, 0, SEEK_END);
  uint64_t kept =
      size < 0 ? 0 : std::min<uint64_t>(static_cast<uint64_t>(size), release.bundle_size_bytes);
  if (::ftruncate(download_fd_, static_cast<off_t>(kept)) != 0) kept = 0;
  if (kept > 0 && !HashPrefix(download_fd_, kept, download.hasher)) {
    // What cannot be read back cannot be trusted: start again from the first byte.
    Event("cannot read back " + download.partial.string() + "; downloading it again");
    kept = 0;
    (void)::ftruncate(download_fd_, 0);
    download.hasher = crypto::Sha256Hasher();
  }
  download.written = kept;
  download.requested = kept;
  if (kept > 0) {
    Event("resuming " + release.app + " " + release.version + " at byte " + std::to_string(kept));
  }
  download_ = std::move(download);
  if (download_->written == release.bundle_size_bytes) return FinishDownload();
  RequestChunks();
}

void DeviceSessionCore::RequestChunks() {
  if (!download_ || !connected() || !welcomed_) return;
  Download& download = *download_;
  while (download.in_flight < options_.chunks_in_flight &&
         download.requested < download.release.bundle_size_bytes) {
    uint64_t remaining = download.release.bundle_size_bytes - download.requested;
    ChunkRequest request{
        .request_id = next_request_id_++,
        .bundle_digest = download.release.bundle_digest,
        .offset = download.requested,
        .length = static_cast<uint32_t>(std::min<uint64_t>(remaining, options_.chunk_bytes))};
    if (!connection_->Send(kFrameChunkRequest, Encode(request))) return;
    download.requested += request.length;
    ++download.in_flight;
  }
}

void DeviceSessionCore::OnChunk(const ChunkView& chunk) {
  if (!download_) return;
  Download& download = *download_;
  if (download.in_flight > 0) --download.in_flight;
  if (!chunk.error.empty()) {
    // Not cached at the gateway yet, or gone: ask again from where we are, a little later.
    Event("the gateway cannot serve " + download.release.app + " " + download.release.version +
          " yet: " + chunk.error);
    download.requested = download.written;
    download.in_flight = 0;
    auto timer = std::make_shared<asio::steady_timer>(io_context_, std::chrono::milliseconds(500));
    std::weak_ptr<DeviceSessionCore> weak = weak_from_this();
    timer->async_wait([weak, timer](const std::error_code& error) {
      if (auto self = weak.lock(); self && !error) self->RequestChunks();
    });
    return;
  }
  // Chunks come back in the order they were asked for, on one session: each must start
  // exactly where the file ends.
  if (chunk.offset != download.written ||
      chunk.bytes.size() > download.release.bundle_size_bytes - download.written) {
    return RestartDownload("the gateway sent bytes at " + std::to_string(chunk.offset) + " (+" +
                           std::to_string(chunk.bytes.size()) + ") when " +
                           std::to_string(download.written) + " were expected");
  }
  size_t done = 0;
  while (done < chunk.bytes.size()) {
    ssize_t wrote = ::pwrite(download_fd_, chunk.bytes.data() + done, chunk.bytes.size() - done,
                             static_cast<off_t>(download.written + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      Event("cannot write " + download.partial.string() + ": " + std::strerror(errno));
      return RestartDownload("local write failed");
    }
    done += static_cast<size_t>(wrote);
  }
  download.hasher.Update(chunk.bytes);
  download.written += chunk.bytes.size();
  if (download.written == download.release.bundle_size_bytes) return FinishDownload();
  RequestChunks();
}

void DeviceSessionCore::FinishDownload() {
  Download download = std::move(*download_);
  download_.reset();
  if (::fsync(download_fd_) != 0) {
    Event("cannot fsync " + download.partial.string() + ": " + std::strerror(errno));
  }
  CloseDownloadFile();
  auto transmission =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - download.started);
  Sha256Digest digest = download.hasher.Finish();
  if (digest != download.release.bundle_digest) {
    download_ = std::move(download);
    return RestartDownload("the bundle hashes to " + ToHex(digest).substr(0, 12) +
                           ", the ledger says " +
                           ToHex(download_->release.bundle_digest).substr(0, 12));
  }
  std::filesystem::path bundle = BundlePath(download.release.bundle_digest);
  if (auto renamed = RenameDurably(download.partial, bundle); !renamed) {
    Event("cannot keep the downloaded bundle: " + renamed.error().message());
    return;
  }
  if (callbacks_.on_bundle) callbacks_.on_bundle(download.release, bundle, transmission);
  if (!waiting_downloads_.empty()) {
    VerifiedRelease next = waiting_downloads_.front();
    waiting_downloads_.pop_front();
    StartDownload(next);
  }
}

void DeviceSessionCore::RestartDownload(const std::string& why) {
  Download& download = *download_;
  Event("download of " + download.release.app + " " + download.release.version +
        " restarted: " + why);
  CloseDownloadFile();
  std::error_code ignored;
  std::filesystem::remove(download.partial, ignored);
  if (++download.restarts > limits::kAgentDownloadRestartsMax) {
    Event("giving up on " + download.release.app + " " + download.release.version + " after " +
          std::to_string(download.restarts) + " bad downloads; it will be offered again");
    download_.reset();
    return;
  }
  VerifiedRelease release = download.release;
  uint32_t restarts = download.restarts;
  download_.reset();
  StartDownload(release);
  if (download_) download_->restarts = restarts;
}

void DeviceSessionCore::CloseDownloadFile() {
  if (download_fd_ >= 0) ::close(download_fd_);
  download_fd_ = -1;
}

// --- Reports ---

void DeviceSessionCore::SendReport(ledger::DeviceReport report, DeviceSession::ReportDone done) {
  if (reports_.size() >= limits::kAgentReportsQueuedMax) {
    // The oldest report is dropped rather than the newest: the newest says what is true now.
    Event("report queue full; dropped the oldest report");
    reports_.pop_front();
  }
  reports_.push_back(
      QueuedReport{.report = std::move(report), .done = std::move(done), .attempts = 0});
  SendNextReport();
}

void DeviceSessionCore::SendNextReport() {
  if (report_in_flight_ || reports_.empty() || !connected() || !welcomed_) return;
  QueuedReport& queued = reports_.front();
  Bytes transaction = ledger::SignTransaction(options_.genesis.chain_id, queued.report,
                                              next_sequence_, options_.credentials.key);
  Report report{.request_id = next_request_id_++, .transaction = std::move(transaction)};
  if (!connection_->Send(kFrameReport, Encode(report))) return;
  report_in_flight_ = report.request_id;
}

void DeviceSessionCore::OnReportResult(const ReportResult& result) {
  if (!report_in_flight_ || result.request_id != *report_in_flight_ || reports_.empty()) return;
  report_in_flight_.reset();
  QueuedReport& queued = reports_.front();
  bool committed = result.outcome == ReportOutcome::kCommitted;
  // The gateway says what the ledger expects next (counting this report once committed).
  if (result.next_sequence != 0) {
    next_sequence_ = result.next_sequence;
  } else if (committed && result.result.ok()) {
    ++next_sequence_;
  }
  // Worth another try: a stale sequence (signed again with the one the ledger expects) or a
  // busy gateway. Anything else is the ledger's final word.
  bool retry = !committed && ++queued.attempts < limits::kAgentReportAttemptsMax &&
               (result.result.code == ledger::ResultCode::kBadSequence ||
                result.result.code == ledger::ResultCode::kLimitReached);
  if (retry) {
    Event("report refused (" + std::string(ledger::ResultCodeName(result.result.code)) + ": " +
          result.result.reason + "); sending it again");
    return RetryReportLater();
  }
  DeviceSession::ReportDone done = std::move(queued.done);
  reports_.pop_front();
  if (done) done(result);
  SendNextReport();
}

void DeviceSessionCore::RetryReportLater() {
  report_retry_timer_ =
      std::make_unique<asio::steady_timer>(io_context_, limits::kAgentReportRetryDelay);
  std::weak_ptr<DeviceSessionCore> weak = weak_from_this();
  report_retry_timer_->async_wait([weak](const std::error_code& error) {
    if (auto self = weak.lock(); self && !error) self->SendNextReport();
  });
}

// --- DeviceSession ---

DeviceSession::DeviceSession(asio::io_context& io_context, DeviceSessionOptions options,
                             DeviceSessionCallbacks callbacks)
    : core_(std::make_shared<DeviceSessionCore>(io_context, std::move(options),
                                                std::move(callbacks))) {}
DeviceSession::~DeviceSession() { core_->Stop(); }
void DeviceSession::SetActivationCallbacks(ActivationCallbacks callbacks) {
  core_->SetActivationCallbacks(std::move(callbacks));
}
Status DeviceSession::Start() { return core_->Start(); }
void DeviceSession::Stop() { core_->Stop(); }
void DeviceSession::SendHello() { core_->SendHello(); }
void DeviceSession::RequestRelease(const std::string& app, const std::string& version) {
  core_->RequestRelease(app, version);
}
void DeviceSession::SendReport(ledger::DeviceReport report, ReportDone done) {
  core_->SendReport(std::move(report), std::move(done));
}
bool DeviceSession::connected() const { return core_->connected(); }
bool DeviceSession::welcomed() const { return core_->welcomed(); }
size_t DeviceSession::reports_waiting() const { return core_->reports_waiting(); }

}  // namespace vigil::delivery
