// `vigil bench security`: seed 001's Table 6.4 (security evaluation), extended, mounted by the
// system itself against one running local plant: 4 peer processes with their artifact stores,
// a device agent process, and a gateway in this process (as in `vigil bench update`, so its
// mirror fetches can be watched), which follows the real ledger and serves the real agent.
//
// Twelve cases, one row each: the genuine release (must be installed and activated by the
// device) and eleven attacks (each must be refused). Each row says where the attack was stopped
// and how long the verdict took. The attacker's side runs here, against the real processes:
//
//   genuine bundle                  publish, wait for the device's `activated` on the ledger
//   bit flip in archive / manifest  publish the tampered bundle
//   unknown publisher               publish with a key the ledger does not list as publisher
//   not on the ledger               a release signed by the real publisher but never submitted:
//                                   the peers know no such transaction, and the offer a lying
//                                   gateway would build (the real proof of another publish with
//                                   this transaction swapped in) fails the device's offer check
//   older version replayed          publish a version older than the latest
//   device cert from another CA     a device session (its key enrolled) with a foreign CA's cert
//   unenrolled device               a device session with a fleet certificate, not enrolled
//   revoked device                  a connected device session, then a revocation on the ledger
//   gateway cert from another CA    an impostor gateway following the real ledger, its
//                                   certificate from a foreign CA; a genuine device connects
//   mirror serving wrong bytes      the gateway's first mirror holds the bundle with a bit flipped
//   mirror serving endless data     the gateway's first mirror holds the bundle and 1 MB more
//
// Exit status 1 when any case's observed verdict differs from the expected one.
#include <CLI/CLI.hpp>
#include <stdlib.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/bench_release.h"
#include "cli/commands.h"
#include "cli/ledger_watch.h"
#include "cli/local_cluster.h"
#include "cli/peer_target.h"
#include "common/file.h"
#include "delivery/device_session.h"
#include "delivery/protocol.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/mirror_fetch.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "peer/cluster.h"
#include "pki/pki.h"
#include "publish/publish.h"
#include "release/bundle.h"

namespace vigil::cli {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
constexpr char kApp[] = "line-controller";
constexpr std::chrono::seconds kActivationTimeout{60};
// How long a device session that must not get in is given to get in anyway.
constexpr std::chrono::milliseconds kRefusalWindow{2000};
constexpr uint64_t kPayloadBytes = 16 * 1024;

struct SecurityBenchOptions {
  size_t peers = 4;
  std::string directory;
  bool keep = false;
  bool json = false;
};

struct CaseRow {
  std::string name;
  bool expect_accepted = false;
  bool accepted = false;
  std::string where;  // where it was stopped (or, for an accepted case, what happened)
  double ms = 0;      // time to the verdict
};

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// What the ledger watch saw of one version of kApp.
struct Seen {
  bool activated = false;
  uint64_t activated_height = 0;
  std::string refused;  // a rollback or a refused report
};

// A device session run by the bench (a rogue or a witness), and what it went through.
struct BenchDevice {
  std::unique_ptr<delivery::DeviceSession> session;
  std::mutex mutex;
  size_t bundles = 0;
  std::string last_event;
};

class SecurityBench {
 public:
  explicit SecurityBench(const SecurityBenchOptions& options) : options_(options) {}

  Expected<std::vector<CaseRow>> Run(const std::filesystem::path& root) {
    root_ = root;
    peer::ClusterSpec spec;
    spec.directory = root / "cluster";
    spec.peers = options_.peers;
    spec.chain_id = "vigil-bench-security";
    spec.devices = 1;
    spec.device_apps = {kApp};
    VIGIL_ASSIGN_OR_RETURN(cluster_, peer::CreateCluster(spec));
    Status status = StartPlant();
    if (status) status = RunCases();
    Shutdown();
    if (!status) return std::unexpected(status.error());
    return rows_;
  }

 private:
  // --- The plant ---

  Status StartPlant() {
    auto binary = peer::CurrentExecutable();
    for (size_t i = 0; i < cluster_.peers.size(); ++i) {
      VIGIL_RETURN_IF_ERROR(peer::StartPeer(cluster_, i, binary));
    }
    VIGIL_RETURN_IF_ERROR(WaitForPeers(cluster_, 60s));
    PeerTarget target{.cluster = cluster_.directory.string(), .peer = "", .as = ""};
    VIGIL_ASSIGN_OR_RETURN(client_, ConnectToPeer(target));
    VIGIL_RETURN_IF_ERROR(peer::EnrollClusterDevices(cluster_, *client_));
    VIGIL_ASSIGN_OR_RETURN(genesis_, ledger::ReadGenesisFile(cluster_.genesis));
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey admin,
                           crypto::ReadPrivateKeyFile(cluster_.admins.front() / "key.pem"));
    admin_key_.emplace(std::move(admin));
    other_ca_ = root_ / "other-ca";
    VIGIL_RETURN_IF_ERROR(pki::InitCaDirectory(other_ca_, "another-ca", 30));
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(rogue_mirror(), 0755));

    loop_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(loop_);
      loop_.run();
    });
    VIGIL_RETURN_IF_ERROR(StartGateway());
    VIGIL_RETURN_IF_ERROR(peer::StartClusterDaemon(cluster_, cluster_.devices.front(), binary));
    watch_ = std::make_unique<LedgerWatch>(
        cluster_, [this](const history::Row& row, auto) { OnRow(row); });
    return watch_->Start();
  }

  std::filesystem::path rogue_mirror() const { return root_ / "rogue-mirror"; }

  // The real gateway (its gateway.toml), with the rogue mirror first in its list. Its fetch
  // tries the mirrors one by one, like MakeMirrorFetch, so each refused mirror is recorded.
  Status StartGateway() {
    VIGIL_ASSIGN_OR_RETURN(gateway::GatewayConfig config,
                           gateway::LoadGatewayConfig(cluster_.gateway->config));
    std::vector<std::string> mirrors = {"file://" + rogue_mirror().string()};
    mirrors.insert(mirrors.end(), config.mirrors.begin(), config.mirrors.end());
    VIGIL_RETURN_IF_ERROR(gateway::ValidateMirrors(mirrors));
    std::vector<gateway::FetchFunction> each;
    for (const auto& mirror : mirrors) {
      each.push_back(gateway::MakeMirrorFetch({mirror}, {.ca_file = config.ca_file}));
    }
    gateway::FetchFunction fetch = [this, mirrors, each](const delivery::VerifiedRelease& release,
                                                         const std::filesystem::path& destination) {
      Status last = Fail(ErrorCode::kUnavailable, "no mirror");
      for (size_t i = 0; i < each.size(); ++i) {
        last = each[i](release, destination);
        if (last) return last;
        {
          std::lock_guard lock(mutex_);
          mirror_refusals_[release.version] = last.error().message();
        }
        std::error_code ignored;
        std::filesystem::remove(destination, ignored);
      }
      return last;
    };
    return OnLoop([&]() -> Status {
      VIGIL_ASSIGN_OR_RETURN(gateway_, gateway::Gateway::Start(loop_, std::move(config.options),
                                                               std::move(fetch)));
      return Ok();
    });
  }

  template <typename Work>
  std::invoke_result_t<Work> OnLoop(Work work) {
    std::packaged_task<std::invoke_result_t<Work>()> task(std::move(work));
    auto result = task.get_future();
    asio::post(loop_, [&task] { task(); });
    return result.get();
  }

  void OnRow(const history::Row& row) {
    if (row.app != kApp) return;
    std::lock_guard lock(mutex_);
    Seen& seen = seen_[row.version];
    if (!row.result.ok()) {
      seen.refused = std::string(history::RowKindName(row.kind)) + " refused: " + row.result.reason;
    } else if (row.kind == history::RowKind::kActivated) {
      seen.activated = true;
      seen.activated_height = row.height;
    } else if (row.kind == history::RowKind::kRolledBack) {
      seen.refused = "rolled back: " + row.detail;
    }
    changed_.notify_all();
  }

  // Waits until the device activated `version` (true) or refused it or the time is up (false).
  bool WaitActivated(const std::string& version, std::string& why) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kActivationTimeout, [&] {
      return seen_[version].activated || !seen_[version].refused.empty();
    });
    const Seen& seen = seen_[version];
    why = seen.activated ? "device-1 activated it (block " +
                               std::to_string(seen.activated_height) + ")"
          : !seen.refused.empty() ? "device: " + seen.refused
                                  : "not activated within " +
                                        std::to_string(kActivationTimeout.count()) + " s";
    return seen.activated;
  }

  void Shutdown() {
    if (watch_) watch_->Stop();
    for (const auto& device : cluster_.devices) (void)peer::StopClusterDaemon(device);
    if (loop_thread_.joinable()) {
      OnLoop([&] {
        for (auto& device : devices_) {
          if (device->session) device->session->Stop();
        }
        devices_.clear();
        if (impostor_) impostor_->Stop();
        impostor_.reset();
        if (gateway_) gateway_->Stop();
        gateway_.reset();
        return 0;
      });
      loop_.stop();
      loop_thread_.join();
    }
    for (size_t i = 0; i < cluster_.peers.size(); ++i) (void)peer::StopPeer(cluster_, i);
  }

  // --- The attacker's tools ---

  // A release of kApp with 16 KB of random payload (bench_release.h, shared with the other
  // system benchmarks): entry run.sh, health command /bin/true.
  Expected<std::filesystem::path> BuildRelease(const std::string& version) {
    return BuildPayloadRelease(root_, kApp, version, kPayloadBytes, random_);
  }

  Expected<publish::PublishOutcome> Publish(const std::filesystem::path& bundle,
                                            const std::filesystem::path& key_directory = {}) {
    VIGIL_ASSIGN_OR_RETURN(publish::PublishRequest request,
                           publish::RequestForCluster(cluster_, bundle));
    if (!key_directory.empty()) request.key_directory = key_directory;
    return publish::PublishBundle(request, {});
  }

  // Signed by the first admin; the sequence is learned from the ledger's answer.
  template <typename Body>
  Status CommitAsAdmin(const Body& body) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      Bytes transaction =
          ledger::SignTransaction(cluster_.chain_id, body, admin_sequence_, *admin_key_);
      VIGIL_ASSIGN_OR_RETURN(api::SubmitResponse response, client_->Submit(transaction, true));
      if (response.outcome == api::SubmitOutcome::kCommitted && response.result.ok()) {
        ++admin_sequence_;
        return Ok();
      }
      auto next = ledger::NextSequenceNamedBy(response.result);
      if (!next) return Fail(ErrorCode::kRefused, "admin transaction: " + response.result.reason);
      admin_sequence_ = *next;
    }
    return Fail(ErrorCode::kRefused, "admin transaction: no usable sequence");
  }

  // A device node directory with a certificate from `ca` (the fleet's by default).
  Expected<std::filesystem::path> IssueDevice(const std::string& name,
                                              const std::filesystem::path& ca = {}) {
    std::filesystem::path out = root_ / "rogues" / name;
    VIGIL_RETURN_IF_ERROR(pki::IssueToDirectory(ca.empty() ? cluster_.directory / "ca" : ca,
                                                pki::Role::kDevice, name, 20, out, std::nullopt));
    return out;
  }

  Expected<crypto::PublicKey> NodeKey(const std::filesystem::path& node) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::ReadPrivateKeyFile(node / "key.pem"));
    return key.public_key();
  }

  Status Enroll(const std::filesystem::path& node) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey key, NodeKey(node));
    return CommitAsAdmin(
        ledger::EnrollDevice{.device_key = key, .group = cluster_.device_group, .labels = {}});
  }

  // A device session with the real device code, accepting every offer.
  Expected<BenchDevice*> StartDevice(const std::filesystem::path& node, uint16_t gateway_port) {
    VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials, pki::LoadNodeDirectory(node));
    auto device = std::make_unique<BenchDevice>();
    BenchDevice* raw = device.get();
    delivery::DeviceSessionOptions options{.credentials = std::move(credentials),
                                           .genesis = genesis_,
                                           .gateway_host = "127.0.0.1",
                                           .gateway_port = gateway_port,
                                           .gateway_name = std::nullopt,
                                           .downloads_directory = node / "downloads",
                                           .chunk_bytes = 64 * 1024,
                                           .chunks_in_flight = 4,
                                           .reconnect = {},
                                           .seed = 7};
    options.reconnect.delay_initial = 50ms;
    options.reconnect.delay_max = 200ms;
    delivery::DeviceSessionCallbacks callbacks{
        .app_statuses = [] { return std::vector<delivery::AppStatus>{}; },
        .accept_offer = [](const delivery::VerifiedRelease&) { return true; },
        .on_bundle =
            [raw](const delivery::VerifiedRelease&, const std::filesystem::path&,
                  std::chrono::microseconds) {
              std::lock_guard lock(raw->mutex);
              ++raw->bundles;
            },
        .on_event =
            [raw](const std::string& event) {
              std::lock_guard lock(raw->mutex);
              raw->last_event = event;
            }};
    Status started = OnLoop([&]() -> Status {
      device->session = std::make_unique<delivery::DeviceSession>(loop_, std::move(options),
                                                                  std::move(callbacks));
      VIGIL_RETURN_IF_ERROR(device->session->Start());
      devices_.push_back(std::move(device));
      return Ok();
    });
    VIGIL_RETURN_IF_ERROR(started);
    return raw;
  }

  bool Connected(BenchDevice* device) {
    return OnLoop([&] { return device->session->connected(); });
  }
  void StopDevice(BenchDevice* device) {
    OnLoop([&] {
      device->session->Stop();
      return 0;
    });
  }
  gateway::GatewayStatus GatewayNow() {
    return OnLoop([&] { return gateway_->status(); });
  }
  uint16_t GatewayPort() {
    return OnLoop([&] { return gateway_->port(); });
  }
  std::string LastEvent(BenchDevice* device) {
    std::lock_guard lock(device->mutex);
    return device->last_event;
  }
  size_t Bundles(BenchDevice* device) {
    std::lock_guard lock(device->mutex);
    return device->bundles;
  }

  template <typename Predicate>
  bool WaitFor(Predicate predicate, std::chrono::milliseconds limit) {
    auto deadline = SteadyClock::now() + limit;
    while (SteadyClock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return predicate();
  }

  void Add(std::string name, bool expect_accepted, bool accepted, std::string where,
           SteadyClock::time_point started) {
    rows_.push_back({.name = std::move(name), .expect_accepted = expect_accepted,
                     .accepted = accepted, .where = std::move(where), .ms = MsSince(started)});
    const CaseRow& row = rows_.back();
    if (!options_.json) {
      std::fprintf(stderr, "case %zu: %s: %s (%s)\n", rows_.size(), row.name.c_str(),
                   row.accepted ? "accepted" : "refused", row.where.c_str());
    }
  }

  // A publish that must be refused; the refusal's message says who refused it.
  void PublishCase(const std::string& name, const std::filesystem::path& bundle,
                   const std::filesystem::path& key_directory = {}) {
    auto started = SteadyClock::now();
    auto outcome = Publish(bundle, key_directory);
    if (outcome) {
      Add(name, false, true, "publish: committed at block " + std::to_string(outcome->height),
          started);
    } else {
      Add(name, false, false, "publish: " + outcome.error().message(), started);
    }
  }

  Expected<std::filesystem::path> FlipBit(const std::filesystem::path& bundle, size_t offset,
                                          const std::string& name) {
    VIGIL_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(bundle, 64 * 1024 * 1024));
    if (offset >= bytes.size()) offset = bytes.size() - 1;
    bytes[offset] ^= 0x01;
    std::filesystem::path tampered = root_ / "releases" / name;
    VIGIL_RETURN_IF_ERROR(WriteFileAtomically(tampered, bytes, 0644));
    return tampered;
  }

  // --- The cases ---

  Status RunCases() {
    // 1. The genuine release: installed and activated by the real device.
    VIGIL_ASSIGN_OR_RETURN(auto genuine, BuildRelease("1.0.0"));
    {
      auto started = SteadyClock::now();
      auto outcome = Publish(genuine);
      if (!outcome) {
        Add("genuine bundle", true, false, "publish: " + outcome.error().message(), started);
      } else {
        genuine_publish_ = outcome->transaction_id;
        std::string why;
        bool activated = WaitActivated("1.0.0", why);
        Add("genuine bundle", true, activated, why, started);
      }
    }
    // 2, 3. One bit flipped in the archive (near the end), then in the manifest (its header).
    VIGIL_ASSIGN_OR_RETURN(auto next, BuildRelease("1.1.0"));
    auto size = std::filesystem::file_size(next);
    VIGIL_ASSIGN_OR_RETURN(auto archive_flip, FlipBit(next, size - 80, "archive-flip.vigil"));
    PublishCase("bit flip in archive", archive_flip);
    VIGIL_ASSIGN_OR_RETURN(auto manifest_flip, FlipBit(next, 60, "manifest-flip.vigil"));
    PublishCase("bit flip in manifest", manifest_flip);
    // 4. Signed by a key the ledger does not list as a publisher (an admin's).
    VIGIL_ASSIGN_OR_RETURN(auto rogue, BuildRelease("1.2.0"));
    PublishCase("unknown publisher", rogue, cluster_.admins.front());
    // 5. Signed by the real publisher, never committed.
    VIGIL_RETURN_IF_ERROR(NotOnTheLedgerCase());
    // 6. An older version replayed (a rollback attempt).
    VIGIL_ASSIGN_OR_RETURN(auto older, BuildRelease("0.9.0"));
    PublishCase("older version replayed", older);
    // 7-10. Certificates and the device list.
    VIGIL_RETURN_IF_ERROR(ForeignDeviceCertificateCase());
    VIGIL_RETURN_IF_ERROR(UnenrolledDeviceCase());
    VIGIL_RETURN_IF_ERROR(RevokedDeviceCase());
    VIGIL_RETURN_IF_ERROR(ImpostorGatewayCase());
    // 11, 12. A lying mirror first in the gateway's list.
    VIGIL_RETURN_IF_ERROR(LyingMirrorCase("mirror serving wrong bytes", "1.4.0", false));
    VIGIL_RETURN_IF_ERROR(LyingMirrorCase("mirror serving endless data", "1.5.0", true));
    // 13 (beyond the seed's table). A genuine gateway lying about a device's group.
    VIGIL_RETURN_IF_ERROR(ClaimedGroupCase());
    return Ok();
  }

  // A second gateway (impostor_) on the real ledger with the plant's gateway configuration,
  // a free port, its own cache and whatever `misbehave` changes.
  Status StartRogueGateway(const std::filesystem::path& cache_directory,
                           const std::function<void(gateway::GatewayOptions&)>& misbehave) {
    VIGIL_ASSIGN_OR_RETURN(gateway::GatewayConfig config,
                           gateway::LoadGatewayConfig(cluster_.gateway->config));
    gateway::GatewayOptions options = std::move(config.options);
    options.port = 0;
    options.cache_directory = cache_directory;
    misbehave(options);
    return OnLoop([&]() -> Status {
      VIGIL_ASSIGN_OR_RETURN(impostor_,
                             gateway::Gateway::Start(loop_, std::move(options),
                                                     gateway::MakeMirrorFetch(
                                                         config.mirrors,
                                                         {.ca_file = config.ca_file})));
      return Ok();
    });
  }
  void StopRogueGateway() {
    OnLoop([&] {
      impostor_->Stop();
      impostor_.reset();
      return 0;
    });
  }

  Status ClaimedGroupCase() {
    // A gateway with the fleet's genuine credentials that tells each device it is of another
    // group (whose activations it would then follow). The device believes only the enrollment
    // the ledger proves: it refuses the Welcome and is never served.
    VIGIL_RETURN_IF_ERROR(StartRogueGateway(
        root_ / "rogues" / "group-claiming-gateway" / "cache",
        [](gateway::GatewayOptions& options) { options.test_claimed_group = "another-line"; }));
    VIGIL_ASSIGN_OR_RETURN(auto device_node, IssueDevice("grouped-device"));
    VIGIL_RETURN_IF_ERROR(Enroll(device_node));
    // The gateway must have followed the enrollment before the device says Hello.
    uint64_t enrolled_at = GatewayNow().ledger_height;
    WaitFor([&] { return OnLoop([&] { return impostor_->status().ledger_height; }) >= enrolled_at; },
            kRefusalWindow);
    uint16_t port = OnLoop([&] { return impostor_->port(); });
    auto started = SteadyClock::now();
    VIGIL_ASSIGN_OR_RETURN(BenchDevice * device, StartDevice(device_node, port));
    bool welcomed = WaitFor([&] { return OnLoop([&] { return device->session->welcomed(); }); },
                            kRefusalWindow);
    std::string event = LastEvent(device);
    StopDevice(device);
    StopRogueGateway();
    bool refused = !welcomed && event.find("welcome") != std::string::npos;
    Add("gateway naming another group for a device", false, !refused,
        welcomed ? "device: welcomed as a member of 'another-line'"
        : refused ? "device: " + event
                  : "device: no welcome, no refusal (" + event + ")",
        started);
    return Ok();
  }

  Status NotOnTheLedgerCase() {
    const std::string name = "valid signature, not on the ledger";
    VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildRelease("1.3.0"));
    VIGIL_ASSIGN_OR_RETURN(release::BundleSummary summary, release::InspectBundle(bundle));
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey publisher,
                           crypto::ReadPrivateKeyFile(cluster_.publisher / "key.pem"));
    auto started = SteadyClock::now();
    ledger::PublishRelease body{.app = kApp, .version = "1.3.0",
                                .bundle_digest = summary.bundle_digest,
                                .bundle_size_bytes = summary.bundle_size_bytes,
                                .manifest_root = summary.manifest_root, .notes = ""};
    Bytes signed_release = ledger::SignTransaction(cluster_.chain_id, body, 1000, publisher);
    // The peers: no committed transaction of that id.
    VIGIL_ASSIGN_OR_RETURN(api::TransactionResponse lookup,
                           client_->GetTransaction(ledger::ComputeTransactionId(signed_release)));
    if (lookup.proof.has_value()) {
      Add(name, false, true, "ledger: the peers hold it", started);
      return Ok();
    }
    // A lying gateway's offer: the genuine 1.0.0 publish's proof with this transaction in it.
    VIGIL_ASSIGN_OR_RETURN(api::TransactionResponse genuine,
                           client_->GetTransaction(genuine_publish_));
    if (!genuine.proof) return Fail(ErrorCode::kNotFound, "the genuine publish has no proof");
    delivery::Offer offer{.publish = *genuine.proof};
    offer.publish.transaction = signed_release;
    auto verified = delivery::VerifyOffer(ledger::GenesisValidatorSet(genesis_),
                                          cluster_.chain_id, offer);
    Add(name, false, verified.has_value(),
        verified ? "device: offer accepted"
                 : "peers: no such transaction; device offer check: " + verified.error().message(),
        started);
    return Ok();
  }

  Status ForeignDeviceCertificateCase() {
    // Its key is enrolled on the ledger; only its certificate's CA is not the fleet's.
    VIGIL_ASSIGN_OR_RETURN(auto node, IssueDevice("foreign-ca-device", other_ca_));
    VIGIL_RETURN_IF_ERROR(Enroll(node));
    auto started = SteadyClock::now();
    VIGIL_ASSIGN_OR_RETURN(BenchDevice * device, StartDevice(node, GatewayPort()));
    bool got_in = WaitFor([&] { return Connected(device) || Bundles(device) > 0; },
                          kRefusalWindow);
    std::string event = LastEvent(device);
    StopDevice(device);
    Add("device certificate from another CA", false, got_in,
        got_in ? "gateway: session admitted"
               : "device TLS handshake refused" + (event.empty() ? "" : " (" + event + ")"),
        started);
    return Ok();
  }

  Status UnenrolledDeviceCase() {
    VIGIL_ASSIGN_OR_RETURN(auto node, IssueDevice("unenrolled-device"));
    uint64_t refused_before = GatewayNow().sessions_refused;
    auto started = SteadyClock::now();
    VIGIL_ASSIGN_OR_RETURN(BenchDevice * device, StartDevice(node, GatewayPort()));
    bool refused = WaitFor([&] { return GatewayNow().sessions_refused > refused_before; },
                           kRefusalWindow);
    bool got_in = Connected(device) || Bundles(device) > 0;
    StopDevice(device);
    Add("valid certificate, unenrolled device", false, got_in || !refused,
        got_in    ? "gateway: session admitted"
        : refused ? "gateway: key not enrolled on the ledger, session refused"
                  : "gateway: no refusal counted",
        started);
    return Ok();
  }

  Status RevokedDeviceCase() {
    VIGIL_ASSIGN_OR_RETURN(auto node, IssueDevice("revoked-device"));
    VIGIL_RETURN_IF_ERROR(Enroll(node));
    VIGIL_ASSIGN_OR_RETURN(BenchDevice * device, StartDevice(node, GatewayPort()));
    if (!WaitFor([&] { return Connected(device); }, 10s)) {
      return Fail(ErrorCode::kUnavailable, "an enrolled device was not admitted: " +
                                               LastEvent(device));
    }
    uint64_t refused_before = GatewayNow().sessions_refused;
    auto started = SteadyClock::now();
    VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey key, NodeKey(node));
    VIGIL_RETURN_IF_ERROR(CommitAsAdmin(ledger::RevokeDevice{.device_key = key, .reason = "stolen"}));
    bool dropped = WaitFor([&] { return !Connected(device); }, 10s);
    double drop_ms = MsSince(started);
    bool kept_out = WaitFor([&] { return GatewayNow().sessions_refused > refused_before; },
                            kRefusalWindow) &&
                    !Connected(device);
    StopDevice(device);
    char where[160];
    std::snprintf(where, sizeof(where),
                  "gateway: revocation committed, live session dropped after %.0f ms%s", drop_ms,
                  kept_out ? ", reconnects refused" : "");
    Add("revoked device", false, !(dropped && kept_out),
        dropped ? where : "gateway: the revoked device's session stayed open", started);
    return Ok();
  }

  Status ImpostorGatewayCase() {
    // An impostor gateway following the real ledger, trusting the fleet CA (so it would accept
    // real devices), its own certificate from another CA. A genuine, enrolled device connects.
    std::filesystem::path node = root_ / "rogues" / "impostor-gateway";
    VIGIL_RETURN_IF_ERROR(pki::IssueToDirectory(other_ca_, pki::Role::kGateway, "gateway-1", 20,
                                                node, std::nullopt));
    VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials, pki::LoadNodeDirectory(node));
    VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory fleet, pki::LoadCaDirectory(cluster_.directory / "ca"));
    credentials.ca_certificate = fleet.certificate;
    VIGIL_RETURN_IF_ERROR(
        StartRogueGateway(node / "cache", [&credentials](gateway::GatewayOptions& options) {
          options.credentials = std::move(credentials);
        }));
    VIGIL_ASSIGN_OR_RETURN(auto device_node, IssueDevice("witness-device"));
    VIGIL_RETURN_IF_ERROR(Enroll(device_node));
    uint16_t port = OnLoop([&] { return impostor_->port(); });
    auto started = SteadyClock::now();
    VIGIL_ASSIGN_OR_RETURN(BenchDevice * device, StartDevice(device_node, port));
    bool got_in = WaitFor([&] { return Connected(device) || Bundles(device) > 0; },
                          kRefusalWindow);
    std::string event = LastEvent(device);
    uint64_t offers = OnLoop([&] { return impostor_->status().offers_sent; });
    StopDevice(device);
    StopRogueGateway();
    Add("gateway certificate from another CA", false, got_in || offers > 0,
        got_in ? "device: session with the impostor opened"
               : "device TLS handshake refused the gateway" +
                     (event.empty() ? "" : " (" + event + ")"),
        started);
    return Ok();
  }

  // The gateway's first mirror holds wrong bytes (or the right ones and 1 MB more) under the
  // genuine release's digest; the genuine release is published. Refused: the gateway drops
  // that mirror's bytes and the device still activates the genuine release from the next one.
  Status LyingMirrorCase(const std::string& name, const std::string& version, bool endless) {
    VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildRelease(version));
    VIGIL_ASSIGN_OR_RETURN(release::BundleSummary summary, release::InspectBundle(bundle));
    VIGIL_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(bundle, 64 * 1024 * 1024));
    if (endless) {
      bytes.resize(bytes.size() + 1024 * 1024, 0x5a);
    } else {
      bytes[bytes.size() / 2] ^= 0x01;
    }
    VIGIL_RETURN_IF_ERROR(
        WriteFileAtomically(rogue_mirror() / ToHex(summary.bundle_digest), bytes, 0644));
    auto started = SteadyClock::now();
    auto outcome = Publish(bundle);
    if (!outcome) return std::unexpected(outcome.error().WithContext("publishing " + version));
    std::string why;
    bool activated = WaitActivated(version, why);
    std::string refusal;
    {
      std::lock_guard lock(mutex_);
      refusal = mirror_refusals_[version];
    }
    // Accepted would mean the lying mirror's bytes got through; a device that activated the
    // genuine release after the gateway refused those bytes is the refusal working.
    bool lie_refused = !refusal.empty() && activated;
    Add(name, false, !lie_refused,
        lie_refused ? "gateway: " + refusal + "; next mirror used, " + why
                    : "gateway: " + (refusal.empty() ? std::string("no mirror refused") : refusal) +
                          "; " + why,
        started);
    return Ok();
  }

  const SecurityBenchOptions& options_;
  std::filesystem::path root_;
  std::mt19937_64 random_{2026};
  peer::Cluster cluster_;
  ledger::Genesis genesis_;
  std::optional<crypto::PrivateKey> admin_key_;
  uint64_t admin_sequence_ = 1;
  std::filesystem::path other_ca_;
  ledger::TransactionId genuine_publish_{};
  std::unique_ptr<api::ApiClient> client_;
  asio::io_context loop_;
  std::thread loop_thread_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<gateway::Gateway> impostor_;
  std::vector<std::unique_ptr<BenchDevice>> devices_;
  std::unique_ptr<LedgerWatch> watch_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Seen> seen_;
  std::map<std::string, std::string> mirror_refusals_;  // by version: the last mirror's refusal
  std::vector<CaseRow> rows_;
};

const char* Verdict(bool accepted) { return accepted ? "accepted" : "refused"; }

void Report(const SecurityBenchOptions& options, const std::vector<CaseRow>& rows,
            size_t mismatches) {
  if (options.json) {
    nlohmann::json cases = nlohmann::json::array();
    for (const CaseRow& row : rows) {
      cases.push_back({{"case", row.name},
                       {"expected", Verdict(row.expect_accepted)},
                       {"observed", Verdict(row.accepted)},
                       {"where", row.where},
                       {"ms", row.ms}});
    }
    PrintJson({{"benchmark", "security"}, {"peers", options.peers}, {"cases", cases},
               {"all_as_expected", mismatches == 0}});
    return;
  }
  std::printf("vigil bench security: seed 001's Table 6.4, extended; %zu peers, a gateway, "
              "a device agent, attacks from this process\n\n",
              options.peers);
  std::printf("%-3s %-38s %-9s %-9s %9s  %s\n", "#", "case", "expected", "observed", "ms",
              "where it was stopped");
  for (size_t i = 0; i < rows.size(); ++i) {
    const CaseRow& row = rows[i];
    std::printf("%-3zu %-38s %-9s %-9s%s %8.0f  %s\n", i + 1, row.name.c_str(),
                Verdict(row.expect_accepted), Verdict(row.accepted),
                row.accepted == row.expect_accepted ? " " : "!", row.ms, row.where.c_str());
  }
  std::printf("\n%s\n", mismatches == 0 ? "every case as expected: the genuine release accepted, "
                                          "every attack refused"
                                        : "SOME CASES DIFFER FROM WHAT IS EXPECTED (marked !)");
}

Status RunSecurityBench(const SecurityBenchOptions& options) {
  if (options.peers < 1 || options.peers > 16) {
    return Fail(ErrorCode::kInvalidArgument, "--peers must be 1..16");
  }
  std::filesystem::path root = options.directory;
  if (root.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "vigil-bench-security-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "cannot create a temporary directory");
    }
    root = pattern;
  }
  SecurityBench bench(options);
  auto rows = bench.Run(root);
  if (!rows) return std::unexpected(rows.error().WithContext("files kept in " + root.string()));
  size_t mismatches = 0;
  for (const CaseRow& row : *rows) mismatches += row.accepted != row.expect_accepted ? 1 : 0;
  Report(options, *rows, mismatches);
  if (mismatches > 0) {
    return Fail(ErrorCode::kInternal, std::to_string(mismatches) +
                                          " case(s) not as expected; files kept in " +
                                          root.string());
  }
  if (!options.keep) {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  return Ok();
}

}  // namespace

void RegisterBenchSecurityCommand(CLI::App& app, CommandContext& context) {
  CLI::App* bench = app.get_subcommand("bench");
  CLI::App* security = bench->add_subcommand(
      "security",
      "Seed 001's Table 6.4, extended: the genuine release and 11 attacks mounted against peers, "
      "a gateway and a device agent on this machine; where each was stopped and how fast");
  auto options = std::make_shared<SecurityBenchOptions>();
  security->add_option("--peers", options->peers, "Ledger peers")->capture_default_str();
  security->add_option("--dir", options->directory,
                       "Working directory (default: a temporary one)");
  security->add_flag("--keep", options->keep, "Keep the working directory");
  security->add_flag("--json", options->json, "Print the rows as one JSON object");
  security->callback([options, &context] {
    spdlog::set_level(spdlog::level::off);
    if (Status status = RunSecurityBench(*options); !status) {
      ReportError(context, "bench security", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderBench + 2, RegisterBenchSecurityCommand);

}  // namespace vigil::cli
