// The gateway and a device end to end, in one process but with every real part: a one-peer
// ledger (PeerNode with its store and TLS), the gateway following it, a file:// mirror, and a
// DeviceSession on the device's own certificate. The peer runs on its own io_context thread (as
// if in its own process), the gateway and the devices on another; the test thread publishes,
// enrolls and revokes through the peer's client API and waits for the effects.
//
// Each refusal the issue lists for this layer has a case: an unenrolled device, a revoked
// device (its live session drops), a device certificate from another CA, a mirror that serves
// wrong bytes (the next mirror is used), a mirror that serves endless bytes.
#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>

#include "api/client.h"
#include "common/file.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "delivery/device_session.h"
#include "gateway/mirror_fetch.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "peer/config.h"
#include "peer/node.h"
#include "pki/pki.h"
#include "test_support/in_process_peer.h"
#include "test_support/temporary_directory.h"

namespace vigil::gateway {
namespace {

using namespace std::chrono_literals;

constexpr char kApp[] = "press-control";

// What a device saw, written on the io thread and read by the test thread.
struct DeviceLog {
  std::mutex mutex;
  std::vector<delivery::VerifiedRelease> bundles;
  std::vector<std::filesystem::path> bundle_paths;
  std::vector<delivery::ReportResult> report_results;
  std::vector<std::string> events;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        peer_.Start(directory_.path() / "cluster", "gateway-test", std::chrono::milliseconds(100)));
    cluster_ = peer_.cluster();
    auto genesis = ledger::ReadGenesisFile(cluster_.genesis);
    ASSERT_TRUE(genesis.has_value());
    genesis_ = std::move(*genesis);
    auto admin = crypto::ReadPrivateKeyFile(cluster_.admins.front() / "key.pem");
    auto publisher = crypto::ReadPrivateKeyFile(cluster_.publisher / "key.pem");
    ASSERT_TRUE(admin.has_value() && publisher.has_value());
    admin_key_ = std::make_unique<crypto::PrivateKey>(std::move(*admin));
    publisher_key_ = std::make_unique<crypto::PrivateKey>(std::move(*publisher));
    std::filesystem::create_directories(mirror_);

    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(loop_);
      loop_.run();
    });
    auto credentials = pki::LoadNodeDirectory(cluster_.admins.front());
    ASSERT_TRUE(credentials.has_value());
    auto client =
        api::ApiClient::Connect(*credentials, cluster_.peers[0].host, cluster_.peers[0].port, 5s);
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }

  void TearDown() override {
    OnLoop([&] {
      for (auto& session : devices_) session->Stop();
      devices_.clear();
      if (gateway_) gateway_->Stop();
      gateway_.reset();
      return 0;
    });
    loop_.stop();
    if (thread_.joinable()) thread_.join();
    peer_.Stop();
  }

  // Runs `work` on the gateway's and devices' thread and waits for it.
  template <typename Work>
  std::invoke_result_t<Work> OnLoop(Work work) {
    std::packaged_task<decltype(work())()> task(std::move(work));
    auto result = task.get_future();
    asio::post(loop_, [&task] { task(); });
    return result.get();
  }

  // Submits and waits for the block; the transaction must be accepted.
  void Commit(const Bytes& transaction) {
    auto response = client_->Submit(transaction, true);
    ASSERT_TRUE(response.has_value()) << response.error().message();
    ASSERT_EQ(response->outcome, api::SubmitOutcome::kCommitted) << response->result.reason;
    ASSERT_TRUE(response->result.ok()) << response->result.reason;
  }

  // A device certificate from the fleet CA (or `ca_directory`), in DIR/<name>.
  std::filesystem::path IssueDevice(const std::string& name,
                                    const std::filesystem::path& ca_directory = {}) {
    std::filesystem::path out = directory_.path() / name;
    auto issued =
        pki::IssueToDirectory(ca_directory.empty() ? cluster_.directory / "ca" : ca_directory,
                              pki::Role::kDevice, name, 20, out, std::nullopt);
    EXPECT_TRUE(issued.has_value()) << issued.error().message();
    return out;
  }

  crypto::PublicKey DeviceKey(const std::filesystem::path& node_directory) {
    auto key = crypto::ReadPrivateKeyFile(node_directory / "key.pem");
    EXPECT_TRUE(key.has_value());
    return key->public_key();
  }

  void Enroll(const std::filesystem::path& node_directory) {
    ledger::EnrollDevice body{
        .device_key = DeviceKey(node_directory), .group = "line-1", .labels = {}};
    Commit(ledger::SignTransaction(cluster_.chain_id, body, ++admin_sequence_, *admin_key_));
  }

  void Revoke(const std::filesystem::path& node_directory) {
    ledger::RevokeDevice body{.device_key = DeviceKey(node_directory), .reason = "stolen"};
    Commit(ledger::SignTransaction(cluster_.chain_id, body, ++admin_sequence_, *admin_key_));
  }

  // Random bytes as the bundle of `version`, placed in `mirror` under their digest, published.
  Bytes Publish(const std::string& version, size_t size, const std::filesystem::path& mirror) {
    Bytes bundle(size);
    std::mt19937_64 random(size + version.size());
    for (auto& byte : bundle) byte = static_cast<uint8_t>(random());
    auto digest = crypto::Sha256(bundle);
    std::filesystem::create_directories(mirror);
    EXPECT_TRUE(WriteFileAtomically(mirror / ToHex(digest), bundle, 0644).has_value());
    ledger::PublishRelease body{.app = kApp,
                                .version = version,
                                .bundle_digest = digest,
                                .bundle_size_bytes = size,
                                .manifest_root = crypto::Sha256(digest),
                                .notes = ""};
    Commit(
        ledger::SignTransaction(cluster_.chain_id, body, ++publisher_sequence_, *publisher_key_));
    return bundle;
  }

  // `ca_directory`: another CA than the fleet's, for the impostor-gateway case.
  void StartGateway(std::vector<std::string> mirrors,
                    const std::filesystem::path& ca_directory = {}, size_t queued_bytes_max = 0) {
    std::filesystem::path node = directory_.path() / "gateway";
    auto issued =
        pki::IssueToDirectory(ca_directory.empty() ? cluster_.directory / "ca" : ca_directory,
                              pki::Role::kGateway, "gateway-1", 20, node, std::nullopt);
    ASSERT_TRUE(issued.has_value()) << issued.error().message();
    auto credentials = pki::LoadNodeDirectory(node);
    ASSERT_TRUE(credentials.has_value());
    if (!ca_directory.empty()) {
      // The impostor still trusts the fleet CA (it accepts real devices); only its own
      // certificate is foreign, so a refusal can only come from the device's side.
      auto fleet = pki::LoadCaDirectory(cluster_.directory / "ca");
      ASSERT_TRUE(fleet.has_value());
      credentials->ca_certificate = fleet->certificate;
    }
    ASSERT_TRUE(ValidateMirrors(mirrors).has_value());
    GatewayOptions options{
        .credentials = std::move(*credentials),
        .genesis = genesis_,
        .peers = {Endpoint{.host = cluster_.peers[0].host, .port = cluster_.peers[0].port}},
        .listen_address = "127.0.0.1",
        .port = 0,
        .cache_directory = directory_.path() / "gateway-cache",
        .cache_bytes_max = 0,
        .fetch_retry_delay = 200ms,
        .queued_bytes_max = queued_bytes_max,
        .test_claimed_group = std::nullopt};
    auto started = OnLoop([&]() -> Status {
      auto gateway = Gateway::Start(loop_, std::move(options), MakeMirrorFetch(std::move(mirrors)));
      if (!gateway) return std::unexpected(gateway.error());
      gateway_ = std::move(*gateway);
      return Ok();
    });
    ASSERT_TRUE(started.has_value()) << started.error().message();
  }

  // A device session that runs `running_version` of kApp and accepts every offer.
  DeviceLog& StartDevice(const std::filesystem::path& node_directory, std::string running_version) {
    auto credentials = pki::LoadNodeDirectory(node_directory);
    EXPECT_TRUE(credentials.has_value());
    auto log = std::make_unique<DeviceLog>();
    DeviceLog* raw = log.get();
    logs_.push_back(std::move(log));
    delivery::DeviceSessionOptions options{.credentials = std::move(*credentials),
                                           .genesis = genesis_,
                                           .gateway_host = "127.0.0.1",
                                           .gateway_port = OnLoop([&] { return gateway_->port(); }),
                                           .gateway_name = std::nullopt,
                                           .downloads_directory = node_directory / "downloads",
                                           .chunk_bytes = 64 * 1024,
                                           .chunks_in_flight = 4,
                                           .reconnect = {},
                                           .seed = 7};
    options.reconnect.delay_initial = 50ms;
    options.reconnect.delay_max = 200ms;
    delivery::DeviceSessionCallbacks callbacks{
        .app_statuses =
            [running_version] {
              return std::vector<delivery::AppStatus>{
                  {.app = kApp, .running_version = running_version, .staged_version = ""}};
            },
        .accept_offer = [](const delivery::VerifiedRelease&) { return true; },
        .on_bundle =
            [raw](const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                  std::chrono::microseconds) {
              std::lock_guard lock(raw->mutex);
              raw->bundles.push_back(release);
              raw->bundle_paths.push_back(bundle);
            },
        .on_event =
            [raw](const std::string& event) {
              std::lock_guard lock(raw->mutex);
              raw->events.push_back(event);
            }};
    auto started = OnLoop([&]() -> Status {
      auto session = std::make_unique<delivery::DeviceSession>(loop_, std::move(options),
                                                               std::move(callbacks));
      VIGIL_RETURN_IF_ERROR(session->Start());
      devices_.push_back(std::move(session));
      return Ok();
    });
    EXPECT_TRUE(started.has_value()) << started.error().message();
    return *raw;
  }

  template <typename Predicate>
  bool WaitFor(Predicate predicate, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return predicate();
  }

  size_t BundlesOf(DeviceLog& log) {
    std::lock_guard lock(log.mutex);
    return log.bundles.size();
  }

  bool Connected(size_t device) {
    return OnLoop([&] { return devices_[device]->connected(); });
  }

  GatewayStatus GatewayNow() {
    return OnLoop([&] { return gateway_->status(); });
  }

  test_support::TemporaryDirectory directory_{"vigil-gateway-test"};
  std::filesystem::path mirror_ = directory_.path() / "mirror";
  peer::Cluster cluster_;
  ledger::Genesis genesis_;
  std::unique_ptr<crypto::PrivateKey> admin_key_;
  std::unique_ptr<crypto::PrivateKey> publisher_key_;
  uint64_t admin_sequence_ = 0;
  uint64_t publisher_sequence_ = 0;
  test_support::InProcessPeer peer_;  // its own thread, as if in its own process
  asio::io_context loop_;             // the gateway and the devices
  std::thread thread_;
  std::unique_ptr<api::ApiClient> client_;
  std::unique_ptr<Gateway> gateway_;
  std::vector<std::unique_ptr<delivery::DeviceSession>> devices_;
  std::vector<std::unique_ptr<DeviceLog>> logs_;
};

TEST_F(GatewayTest, AnEnrolledDeviceReceivesTheReleaseAndItsReportIsCommitted) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  StartGateway({"file://" + mirror_.string()});
  DeviceLog& log = StartDevice(device, "0.9.0");
  Bytes bundle = Publish("1.0.0", 300 * 1024 + 17, mirror_);

  ASSERT_TRUE(WaitFor([&] { return BundlesOf(log) == 1; })) << "no bundle reached the device";
  {
    std::lock_guard lock(log.mutex);
    EXPECT_EQ(log.bundles[0].app, kApp);
    EXPECT_EQ(log.bundles[0].version, "1.0.0");
    EXPECT_EQ(log.bundles[0].publisher, publisher_key_->public_key());
    auto received = ReadFile(log.bundle_paths[0], 1 << 20);
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(*received, bundle);
  }

  // The device's signed report goes through the gateway into a block, and back.
  std::promise<delivery::ReportResult> answer;
  OnLoop([&] {
    devices_[0]->SendReport(
        ledger::DeviceReport{.report_kind = ledger::DeviceReportKind::kInstalled,
                             .app = kApp,
                             .version = "1.0.0",
                             .observed_time_ms = 1,
                             .snapshot_root = std::nullopt,
                             .files_changed = 0,
                             .duration_ms = 5,
                             .detail = ""},
        [&answer](const delivery::ReportResult& result) { answer.set_value(result); });
    return 0;
  });
  auto future = answer.get_future();
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
  delivery::ReportResult result = future.get();
  EXPECT_EQ(result.outcome, delivery::ReportOutcome::kCommitted) << result.result.reason;
  EXPECT_TRUE(result.result.ok()) << result.result.reason;
  EXPECT_GT(result.height, 0u);
  EXPECT_EQ(result.next_sequence, 2u);

  GatewayStatus status = GatewayNow();
  EXPECT_EQ(status.devices_connected, 1u);
  EXPECT_EQ(status.bundles_cached, 1u);
  EXPECT_GE(status.offers_sent, 1u);
  ASSERT_EQ(status.fetches.size(), 1u);
  EXPECT_EQ(status.fetches[0].version, "1.0.0");
}

// With a send budget smaller than one chunk, every chunk request but the first waits for the
// queue to drain: three devices downloading at once still each get the exact bundle.
TEST_F(GatewayTest, ChunkRequestsBeyondTheSendBudgetWaitTheirTurnAndEveryDownloadCompletes) {
  std::vector<std::filesystem::path> devices;
  for (int i = 1; i <= 3; ++i) {
    devices.push_back(IssueDevice("device-" + std::to_string(i)));
    Enroll(devices.back());
  }
  StartGateway({"file://" + mirror_.string()}, {}, /*queued_bytes_max=*/1);
  std::vector<DeviceLog*> logs;
  for (const auto& device : devices) logs.push_back(&StartDevice(device, "0.9.0"));
  Bytes bundle = Publish("1.0.0", 700 * 1024 + 3, mirror_);
  for (DeviceLog* log : logs) {
    ASSERT_TRUE(WaitFor([&] { return BundlesOf(*log) == 1; })) << "a device got no bundle";
    std::lock_guard lock(log->mutex);
    auto received = ReadFile(log->bundle_paths[0], 1 << 20);
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(*received, bundle);
  }
  GatewayStatus status = GatewayNow();
  EXPECT_GT(status.chunks_deferred, 0u);
  EXPECT_GE(status.chunks_served, 3u * 11u);  // 64 KiB chunks of a 700 KiB bundle, per device
}

// A download an earlier run left half done resumes where it ended: the kept bytes are hashed
// with the rest as they arrive. Kept bytes that were damaged on disk make the whole bundle's
// digest differ, and the download starts again from the first byte.
TEST_F(GatewayTest, AnInterruptedDownloadResumesAndADamagedPrefixIsDownloadedAgain) {
  std::filesystem::path intact = IssueDevice("device-1");
  std::filesystem::path damaged = IssueDevice("device-2");
  Enroll(intact);
  Enroll(damaged);
  StartGateway({"file://" + mirror_.string()});
  Bytes bundle = Publish("1.0.0", 500 * 1024 + 9, mirror_);
  const size_t kept = 200 * 1024;
  std::string partial_name = ToHex(crypto::Sha256(bundle)) + ".partial";
  Bytes prefix(bundle.begin(), bundle.begin() + kept);
  for (const auto& node : {intact, damaged}) {
    std::filesystem::create_directories(node / "downloads");
    if (node == damaged) prefix[1000] ^= 0x01;
    ASSERT_TRUE(WriteFileAtomically(node / "downloads" / partial_name, prefix, 0600).has_value());
  }
  DeviceLog& intact_log = StartDevice(intact, "0.9.0");
  DeviceLog& damaged_log = StartDevice(damaged, "0.9.0");

  for (DeviceLog* log : {&intact_log, &damaged_log}) {
    ASSERT_TRUE(WaitFor([&] { return BundlesOf(*log) == 1; })) << "a device got no bundle";
    std::lock_guard lock(log->mutex);
    auto received = ReadFile(log->bundle_paths[0], 1 << 20);
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(*received, bundle);
  }
  auto saw = [](DeviceLog& log, const std::string& text) {
    std::lock_guard lock(log.mutex);
    return std::ranges::any_of(log.events, [&](const std::string& event) {
      return event.find(text) != std::string::npos;
    });
  };
  EXPECT_TRUE(saw(intact_log, "resuming press-control 1.0.0 at byte " + std::to_string(kept)));
  EXPECT_FALSE(saw(intact_log, "restarted"));
  EXPECT_TRUE(saw(damaged_log, "resuming press-control 1.0.0 at byte " + std::to_string(kept)));
  EXPECT_TRUE(saw(damaged_log, "restarted: the bundle hashes to"));
}

TEST_F(GatewayTest, ADeviceAlreadyRunningTheLatestVersionIsNotOffered) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  Publish("1.0.0", 1024, mirror_);
  StartGateway({"file://" + mirror_.string()});
  DeviceLog& log = StartDevice(device, "1.0.0");
  ASSERT_TRUE(WaitFor([&] { return Connected(0); }));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(BundlesOf(log), 0u);
  EXPECT_EQ(GatewayNow().offers_sent, 0u);
}

// A device whose pristine copy of a file is damaged asks for the release it runs again
// (ReleaseRequest): it is offered (with its proof) and downloaded like a new one. A version the
// ledger does not have, or an app the device does not run, gets nothing.
TEST_F(GatewayTest, AReleaseTheDeviceRunsIsOfferedAgainWhenItAsksForIt) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  Bytes bundle = Publish("1.0.0", 200 * 1024 + 5, mirror_);
  StartGateway({"file://" + mirror_.string()});
  DeviceLog& log = StartDevice(device, "1.0.0");
  ASSERT_TRUE(WaitFor([&] { return Connected(0); }));
  OnLoop([&] {
    devices_[0]->RequestRelease(kApp, "1.0.5");
    devices_[0]->RequestRelease("vision", "1.0.0");
    return 0;
  });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(BundlesOf(log), 0u);

  OnLoop([&] {
    devices_[0]->RequestRelease(kApp, "1.0.0");
    return 0;
  });
  ASSERT_TRUE(WaitFor([&] { return BundlesOf(log) == 1; })) << "the asked-for release never came";
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(log.bundles[0].version, "1.0.0");
  auto received = ReadFile(log.bundle_paths[0], 1 << 20);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(*received, bundle);
}

TEST_F(GatewayTest, AnUnenrolledDeviceIsRefused) {
  std::filesystem::path device = IssueDevice("device-1");  // certificate, but not on the ledger
  StartGateway({"file://" + mirror_.string()});
  Publish("1.0.0", 1024, mirror_);
  DeviceLog& log = StartDevice(device, "");
  ASSERT_TRUE(WaitFor([&] { return GatewayNow().sessions_refused >= 1; }));
  EXPECT_FALSE(Connected(0));
  EXPECT_EQ(BundlesOf(log), 0u);
  EXPECT_EQ(GatewayNow().devices_connected, 0u);
}

TEST_F(GatewayTest, ARevocationOnTheLedgerDropsTheLiveSessionAndKeepsTheDeviceOut) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  StartGateway({"file://" + mirror_.string()});
  StartDevice(device, "");
  ASSERT_TRUE(WaitFor([&] { return GatewayNow().devices_connected == 1; }));
  uint64_t refused_before = GatewayNow().sessions_refused;

  Revoke(device);
  ASSERT_TRUE(WaitFor([&] { return GatewayNow().devices_connected == 0; }))
      << "the revoked device's session is still open";
  // It reconnects with backoff and is refused every time.
  ASSERT_TRUE(WaitFor([&] { return GatewayNow().sessions_refused > refused_before; }));
  EXPECT_EQ(GatewayNow().devices_connected, 0u);
}

TEST_F(GatewayTest, ADeviceCertificateFromAnotherCaIsRefusedByTls) {
  // Another CA with the same device key enrolled: the key is on the ledger, the CA is not ours.
  std::filesystem::path other_ca = directory_.path() / "other-ca";
  ASSERT_TRUE(pki::InitCaDirectory(other_ca, "other-ca", 30).has_value());
  std::filesystem::path device = IssueDevice("device-1", other_ca);
  Enroll(device);
  StartGateway({"file://" + mirror_.string()});
  DeviceLog& log = StartDevice(device, "");
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(Connected(0));
  EXPECT_EQ(GatewayNow().devices_connected, 0u);
  EXPECT_EQ(BundlesOf(log), 0u);
}

TEST_F(GatewayTest, AGatewayCertificateFromAnotherCaIsRefusedByTheDevice) {
  // An impostor gateway: it follows the real ledger and holds the release, but its certificate
  // comes from another CA. The device refuses the TLS session, so it is offered nothing.
  std::filesystem::path other_ca = directory_.path() / "other-ca";
  ASSERT_TRUE(pki::InitCaDirectory(other_ca, "other-ca", 30).has_value());
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  Publish("1.0.0", 1024, mirror_);
  StartGateway({"file://" + mirror_.string()}, other_ca);
  DeviceLog& log = StartDevice(device, "");
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(Connected(0));
  EXPECT_EQ(GatewayNow().devices_connected, 0u);
  EXPECT_EQ(GatewayNow().offers_sent, 0u);
  EXPECT_EQ(BundlesOf(log), 0u);
}

TEST_F(GatewayTest, AMirrorServingWrongBytesIsSkippedForTheNextOne) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  std::filesystem::path good = directory_.path() / "good-mirror";
  Bytes bundle = Publish("1.0.0", 64 * 1024, good);
  // The first mirror holds a file under the right name with one bit flipped.
  Bytes tampered = bundle;
  tampered[100] ^= 0x01;
  ASSERT_TRUE(
      WriteFileAtomically(mirror_ / ToHex(crypto::Sha256(bundle)), tampered, 0644).has_value());
  StartGateway({"file://" + mirror_.string(), "file://" + good.string()});
  DeviceLog& log = StartDevice(device, "");
  ASSERT_TRUE(WaitFor([&] { return BundlesOf(log) == 1; }));
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(*ReadFile(log.bundle_paths[0], 1 << 20), bundle);
}

TEST_F(GatewayTest, AMirrorServingEndlessDataIsCutOffAndTheReleaseIsNotCached) {
  std::filesystem::path device = IssueDevice("device-1");
  Enroll(device);
  std::filesystem::path elsewhere = directory_.path() / "publisher-side";
  Bytes bundle = Publish("1.0.0", 4096, elsewhere);
  // The only mirror serves the right bytes followed by a megabyte more.
  Bytes endless = bundle;
  endless.resize(bundle.size() + 1024 * 1024, 0x5a);
  ASSERT_TRUE(
      WriteFileAtomically(mirror_ / ToHex(crypto::Sha256(bundle)), endless, 0644).has_value());
  StartGateway({"file://" + mirror_.string()});
  DeviceLog& log = StartDevice(device, "");
  ASSERT_TRUE(WaitFor([&] { return GatewayNow().devices_connected == 1; }));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(GatewayNow().bundles_cached, 0u);
  EXPECT_EQ(BundlesOf(log), 0u);

  // Once the mirror is fixed, the retry succeeds and the device gets it.
  ASSERT_TRUE(
      WriteFileAtomically(mirror_ / ToHex(crypto::Sha256(bundle)), bundle, 0644).has_value());
  ASSERT_TRUE(WaitFor([&] { return BundlesOf(log) == 1; }));
}

}  // namespace
}  // namespace vigil::gateway
