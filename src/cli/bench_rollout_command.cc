// `vigil bench rollout --devices 1000 --size 10MB`: one release rolled out to a fleet.
//
// A local plant: 4 peer processes with their artifact stores and a gateway process, as `vigil
// cluster up` runs them. In this process, N simulated devices (rollout/simulated_device.h):
// each has its own Ed25519 key, a device certificate from the fleet CA, its own mutual-TLS
// session to the gateway and its own directory; each verifies the offer against the genesis
// validators, downloads the bundle in chunks, unpacks and verifies it into a new slot with the
// agent's code, switches `current` and reports `installed` and `activated` through the gateway
// to the ledger. They run no app process. The devices are enrolled in batches (many enroll
// transactions pending at once, one commit wait per batch).
//
// Then one release with a payload of `--size` random bytes is published (the `vigil publish`
// path) and the bench measures, from the moment the publish's block reached this process's
// ledger subscription (every block verified), when each device downloaded, installed and
// activated it and when the ledger committed its `activated` report; the gateway's peak RSS
// (VmHWM) and this process's peak RSS.
//
// Goal (issue 4): every device activated within 20 s, the gateway within 1 GiB.
//
// `vigil bench activation --devices 100`: the same plant, with devices that stage the release
// and wait (seed 002; the agent's ActivationTracker decides, fed by verified Activation and
// LedgerHeader frames). Once every device has staged it and the ledger holds every `installed`
// report, the bench records the activation for the next block (threshold 100 %, the `vigil
// activate` transaction) and measures when each device switched after that block committed.
// Goal (issue 5): activation skew — last switch minus first — at most 250 ms on loopback.
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include <CLI/CLI.hpp>
#include <array>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_release.h"
#include "cli/commands.h"
#include "cli/ledger_watch.h"
#include "cli/local_cluster.h"
#include "cli/peer_target.h"
#include "cli/tx_submit.h"
#include "common/file.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "peer/cluster.h"
#include "pki/pki.h"
#include "publish/publish.h"
#include "rollout/rollout_tally.h"
#include "rollout/simulated_device.h"

namespace vigil::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using rollout::Milestone;
constexpr char kApp[] = "line-controller";
constexpr char kVersion[] = "1.0.0";
// Enroll transactions pending at once (below the mempool's per-signer bound).
constexpr size_t kEnrollBatch = 250;
constexpr size_t kDevicesMax = 20'000;

struct RolloutBenchOptions {
  bool activation = false;  // `bench activation`: staged devices, then one activation
  size_t devices = 1000;
  std::string size = "10MB";
  size_t peers = 4;
  size_t threads = 2;         // io_context threads for the devices' sessions
  size_t unpack_workers = 2;  // threads unpacking and verifying bundles
  size_t timeout_seconds = 600;
  std::string directory;  // default: /dev/shm when it has room, else the temp directory
  bool keep = false;
  bool json = false;
};

// /proc/<pid>/status field in kB ("VmHWM", "VmRSS"), as bytes; 0 when unreadable.
uint64_t ProcStatusBytes(const std::string& pid, const std::string& field) {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
  }
  return 0;
}

uint64_t FreeBytes(const std::filesystem::path& path) {
  struct statvfs stats {};
  if (::statvfs(path.c_str(), &stats) != 0) return 0;
  return static_cast<uint64_t>(stats.f_bavail) * stats.f_frsize;
}

struct Measured {
  rollout::RolloutSummary summary;
  uint64_t bundle_bytes = 0;
  uint64_t bytes_to_devices = 0;
  uint64_t gateway_peak_rss = 0;
  uint64_t bench_peak_rss = 0;
  double enroll_seconds = 0;
  double connect_seconds = 0;
  double publish_seconds = 0;
  std::vector<std::string> failures;  // the first few
  size_t failed_devices = 0;
  // `bench activation`: switches from the moment the activation's block committed (the
  // submit's answer), and the height it was recorded at (effective at the next one).
  rollout::RolloutSummary after_activation;
  uint64_t activation_height = 0;
  std::chrono::microseconds switch_skew{0};  // last switch minus first
  double stage_seconds = 0;
  std::filesystem::path devices_directory;
};

class RolloutBench {
 public:
  explicit RolloutBench(const RolloutBenchOptions& options) : options_(options) {}

  Status Run(const std::filesystem::path& root, uint64_t size) {
    peer::ClusterSpec spec;
    spec.directory = root / "cluster";
    spec.peers = options_.peers;
    spec.chain_id = "vigil-bench-rollout";
    spec.devices = 1;  // the plant's gateway; its device-1 is not started
    spec.device_apps = {kApp};
    VIGIL_ASSIGN_OR_RETURN(cluster_, peer::CreateCluster(spec));
    Status status = RunRollout(root, size);
    Shutdown();
    return status;
  }

  const Measured& measured() const { return measured_; }

 private:
  struct Identity {
    pki::NodeCredentials credentials;
  };

  Status RunRollout(const std::filesystem::path& root, uint64_t size) {
    auto binary = peer::CurrentExecutable();
    for (size_t i = 0; i < cluster_.peers.size(); ++i) {
      VIGIL_RETURN_IF_ERROR(peer::StartPeer(cluster_, i, binary));
    }
    VIGIL_RETURN_IF_ERROR(WaitForPeers(cluster_, 60s));
    Progress("peers up; issuing " + std::to_string(options_.devices) + " device certificates");
    VIGIL_ASSIGN_OR_RETURN(auto identities, IssueDeviceIdentities());
    auto enroll_started = std::chrono::steady_clock::now();
    VIGIL_RETURN_IF_ERROR(EnrollInBatches(identities));
    measured_.enroll_seconds = Seconds(std::chrono::steady_clock::now() - enroll_started);
    Progress("enrolled in " + std::to_string(measured_.enroll_seconds) +
             " s; starting the gateway");
    VIGIL_ASSIGN_OR_RETURN(gateway_pid_,
                           peer::StartClusterDaemon(cluster_, *cluster_.gateway, binary));

    watch_ = std::make_unique<LedgerWatch>(
        cluster_,
        [this](const history::Row& row, Clock::time_point received) { OnRow(row, received); });
    VIGIL_RETURN_IF_ERROR(watch_->Start());

    auto connect_started = std::chrono::steady_clock::now();
    VIGIL_RETURN_IF_ERROR(StartDevices(root, std::move(identities)));
    VIGIL_RETURN_IF_ERROR(WaitUntilConnected());
    measured_.connect_seconds = Seconds(std::chrono::steady_clock::now() - connect_started);
    Progress("all devices connected in " + std::to_string(measured_.connect_seconds) +
             " s; building and publishing the release");

    std::mt19937_64 random(size);
    VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildPayloadRelease(root, kApp, kVersion, size, random));
    measured_.bundle_bytes = std::filesystem::file_size(bundle);
    auto publish_started = std::chrono::steady_clock::now();
    VIGIL_ASSIGN_OR_RETURN(publish::PublishRequest request,
                           publish::RequestForCluster(cluster_, bundle));
    VIGIL_ASSIGN_OR_RETURN(publish::PublishOutcome outcome, publish::PublishBundle(request, {}));
    (void)outcome;
    measured_.publish_seconds = Seconds(std::chrono::steady_clock::now() - publish_started);
    if (options_.activation) {
      Progress("published; waiting until every device has staged it and reported `installed`");
      auto stage_started = std::chrono::steady_clock::now();
      VIGIL_RETURN_IF_ERROR(WaitForStaged());
      measured_.stage_seconds = Seconds(std::chrono::steady_clock::now() - stage_started);
      VIGIL_RETURN_IF_ERROR(SubmitActivation());
      Progress("activation recorded at height " + std::to_string(measured_.activation_height) +
               "; waiting for every device to switch at the next block");
    } else {
      Progress("published; waiting for " + std::to_string(options_.devices) + " devices");
    }
    VIGIL_RETURN_IF_ERROR(WaitForRollout());
    Collect();
    return Ok();
  }

  static double Seconds(std::chrono::steady_clock::duration duration) {
    return std::chrono::duration<double>(duration).count();
  }

  void Progress(const std::string& text) const {
    if (!options_.json) {
      std::fprintf(stderr, "%s: %s\n", options_.activation ? "activation" : "rollout",
                   text.c_str());
    }
  }

  // A fresh Ed25519 key and a device certificate from the fleet CA for every device.
  Expected<std::vector<Identity>> IssueDeviceIdentities() {
    VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory ca, pki::LoadCaDirectory(cluster_.directory / "ca"));
    auto validity = pki::Validity::ForDays(Clock::now(), 1);
    std::vector<Identity> identities;
    identities.reserve(options_.devices);
    for (size_t i = 0; i < options_.devices; ++i) {
      VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate());
      VIGIL_ASSIGN_OR_RETURN(
          pki::Certificate certificate,
          pki::IssueCertificate(ca.certificate, ca.key, key.public_key(), pki::Role::kDevice,
                                "sim-" + std::to_string(i + 1), validity));
      identities.push_back(
          Identity{.credentials = pki::NodeCredentials{.certificate = std::move(certificate),
                                                       .key = std::move(key),
                                                       .ca_certificate = ca.certificate}});
    }
    return identities;
  }

  // kEnrollBatch transactions submitted without waiting, the batch's last one waited for:
  // one admin signs them with consecutive sequences, which the mempool admits while the
  // earlier ones are pending, and the last one's commit means the batch's are committed.
  Status EnrollInBatches(const std::vector<Identity>& identities) {
    PeerTarget target{.cluster = cluster_.directory.string(), .peer = "", .as = ""};
    VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(target));
    std::vector<crypto::PrivateKey> admins;
    for (size_t i = 0; i < cluster_.admin_threshold; ++i) {
      VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key,
                             crypto::ReadPrivateKeyFile(cluster_.admins[i] / "key.pem"));
      admins.push_back(std::move(key));
    }
    std::vector<const crypto::PrivateKey*> co_signers;
    for (size_t i = 1; i < admins.size(); ++i) co_signers.push_back(&admins[i]);
    uint64_t sequence = 1;
    for (size_t i = 0; i < identities.size(); ++i) {
      bool wait = (i + 1) % kEnrollBatch == 0 || i + 1 == identities.size();
      ledger::EnrollDevice body{.device_key = identities[i].credentials.key.public_key(),
                                .group = cluster_.device_group,
                                .labels = {}};
      for (int attempt = 0;; ++attempt) {
        Bytes transaction =
            ledger::SignTransaction(cluster_.chain_id, body, sequence, admins[0], co_signers);
        VIGIL_ASSIGN_OR_RETURN(api::SubmitResponse response, client->Submit(transaction, wait));
        bool taken = response.outcome == api::SubmitOutcome::kCommitted ||
                     response.outcome == api::SubmitOutcome::kPending;
        if (taken && response.result.ok()) break;
        auto next = ledger::NextSequenceNamedBy(response.result);
        if (!next || attempt >= 3) {
          return Fail(ErrorCode::kRefused,
                      "enrolling device " + std::to_string(i + 1) + ": " + response.result.reason);
        }
        sequence = *next;
      }
      ++sequence;
    }
    return Ok();
  }

  Status StartDevices(const std::filesystem::path& root, std::vector<Identity> identities) {
    VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::ReadGenesisFile(cluster_.genesis));
    measured_.devices_directory = root / "devices";
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(measured_.devices_directory, 0700));
    times_.assign(identities.size(), {});
    unpack_pool_ = std::make_unique<asio::thread_pool>(options_.unpack_workers);
    for (size_t t = 0; t < options_.threads; ++t) {
      contexts_.push_back(std::make_unique<asio::io_context>());
    }
    for (size_t i = 0; i < identities.size(); ++i) {
      asio::io_context& context = *contexts_[i % contexts_.size()];
      rollout::SimulatedDeviceOptions device{
          .index = i,
          .session =
              delivery::DeviceSessionOptions{
                  .credentials = std::move(identities[i].credentials),
                  .genesis = genesis,
                  .gateway_host = "127.0.0.1",
                  .gateway_port = cluster_.gateway->port,
                  .gateway_name = std::nullopt,
                  .downloads_directory = {},
                  .chunk_bytes = limits::kDeliveryChunkBytesDefault,
                  .chunks_in_flight = limits::kAgentChunksInFlightDefault,
                  .reconnect = {},
                  .seed = i + 1},
          .root = measured_.devices_directory / ("sim-" + std::to_string(i + 1)),
          .app = kApp,
          .staged = options_.activation,
          .run_blocking =
              [this](std::function<void()> work) { asio::post(*unpack_pool_, std::move(work)); },
          .on_milestone = [this](size_t index,
                                 Milestone milestone) { OnMilestone(index, milestone); },
          .on_failure = [this](size_t index, const std::string& what) { OnFailure(index, what); }};
      devices_.push_back(std::make_unique<rollout::SimulatedDevice>(context, std::move(device)));
      VIGIL_RETURN_IF_ERROR(devices_.back()->Start());
    }
    for (auto& context : contexts_) {
      threads_.emplace_back([&context] {
        auto guard = asio::make_work_guard(*context);
        context->run();
      });
    }
    return Ok();
  }

  // How many devices have a session up, counted on their own threads.
  size_t CountConnected() {
    std::vector<std::future<size_t>> counts;
    for (size_t t = 0; t < contexts_.size(); ++t) {
      auto promise = std::make_shared<std::promise<size_t>>();
      counts.push_back(promise->get_future());
      asio::post(*contexts_[t], [this, t, promise] {
        size_t connected = 0;
        for (size_t i = t; i < devices_.size(); i += contexts_.size()) {
          connected += devices_[i]->connected() ? 1 : 0;
        }
        promise->set_value(connected);
      });
    }
    size_t total = 0;
    for (auto& count : counts) total += count.get();
    return total;
  }

  // Every session up twice in a row (a session the gateway refuses, e.g. before it followed
  // the enrollments, is up for a moment and then closed and redialed).
  Status WaitUntilConnected() {
    auto deadline = std::chrono::steady_clock::now() + 120s;
    int stable = 0;
    while (stable < 2) {
      std::this_thread::sleep_for(250ms);
      size_t connected = CountConnected();
      stable = connected == devices_.size() ? stable + 1 : 0;
      if (std::chrono::steady_clock::now() > deadline) {
        return Fail(ErrorCode::kTimeout,
                    std::to_string(connected) + " of " + std::to_string(devices_.size()) +
                        " devices connected to the gateway within 120 s; see " +
                        (cluster_.gateway->directory / "gateway.log").string());
      }
      if (!peer::RunningClusterDaemon(*cluster_.gateway)) {
        return Fail(
            ErrorCode::kUnavailable,
            "the gateway exited; see " + (cluster_.gateway->directory / "gateway.log").string());
      }
    }
    return Ok();
  }

  void OnMilestone(size_t index, Milestone milestone) {
    auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto& slot = times_[index][static_cast<size_t>(milestone)];
    if (!slot) slot = now;
    if (milestone == Milestone::kActivationCommitted) ++committed_;
    changed_.notify_all();
  }

  void OnFailure(size_t index, const std::string& what) {
    std::lock_guard lock(mutex_);
    if (failed_.insert(index).second && measured_.failures.size() < 5) {
      measured_.failures.push_back("sim-" + std::to_string(index + 1) + ": " + what);
    }
    changed_.notify_all();
  }

  void OnRow(const history::Row& row, Clock::time_point received) {
    if (row.app != kApp || !row.result.ok()) return;
    std::lock_guard lock(mutex_);
    if (row.kind == history::RowKind::kPublish && !published_) published_ = received;
    if (row.kind == history::RowKind::kInstalled) ++installed_recorded_;
    changed_.notify_all();
  }

  // Every device staged the release, and the ledger holds every `installed` report (what the
  // activation's threshold counts).
  Status WaitForStaged() {
    std::unique_lock lock(mutex_);
    bool staged = changed_.wait_for(lock, std::chrono::seconds(options_.timeout_seconds), [&] {
      return installed_recorded_ >= devices_.size() || !failed_.empty();
    });
    if (!failed_.empty()) {
      return Fail(ErrorCode::kInternal, "a device failed before the activation: " +
                                            measured_.failures.front());
    }
    if (!staged) {
      return Fail(ErrorCode::kTimeout, std::to_string(installed_recorded_) + " of " +
                                           std::to_string(devices_.size()) +
                                           " installed reports on the ledger within " +
                                           std::to_string(options_.timeout_seconds) + " s");
    }
    return Ok();
  }

  // `vigil activate --group G --app A --version V --next --min-installed 100%`, signed by the
  // cluster's admins.
  Status SubmitActivation() {
    VIGIL_ASSIGN_OR_RETURN(api::SubmitResponse response,
                           ActivateInCluster(cluster_.directory.string(), cluster_.device_group,
                                             kApp, kVersion, std::nullopt));
    auto committed = Clock::now();
    std::lock_guard lock(mutex_);
    activation_committed_ = committed;
    measured_.activation_height = response.height;
    return Ok();
  }

  Status WaitForRollout() {
    std::unique_lock lock(mutex_);
    bool done = changed_.wait_for(lock, std::chrono::seconds(options_.timeout_seconds), [&] {
      return published_ && committed_ + failed_.size() >= devices_.size();
    });
    if (!published_) {
      return Fail(ErrorCode::kTimeout, "the publish block never reached the ledger watch");
    }
    if (!done) {
      Progress("timed out after " + std::to_string(options_.timeout_seconds) + " s with " +
               std::to_string(committed_) + " devices activated; reporting what was reached");
    }
    return Ok();
  }

  void Collect() {
    std::string gateway = std::to_string(gateway_pid_);
    measured_.gateway_peak_rss = ProcStatusBytes(gateway, "VmHWM");
    measured_.bench_peak_rss = ProcStatusBytes("self", "VmHWM");
    std::lock_guard lock(mutex_);
    rollout::RolloutTally tally(times_.size());
    for (size_t i = 0; i < times_.size(); ++i) {
      for (size_t m = 0; m < rollout::kMilestoneCount; ++m) {
        if (!times_[i][m]) continue;
        auto since =
            std::chrono::duration_cast<std::chrono::milliseconds>(*times_[i][m] - *published_);
        tally.Record(i, static_cast<Milestone>(m), std::max(since, std::chrono::milliseconds(0)));
      }
    }
    measured_.summary = tally.Summarize();
    if (activation_committed_) {
      rollout::RolloutTally after(times_.size());
      for (size_t i = 0; i < times_.size(); ++i) {
        for (Milestone m : {Milestone::kActivated, Milestone::kActivationCommitted}) {
          const auto& time = times_[i][static_cast<size_t>(m)];
          if (!time) continue;
          after.Record(i, m,
                       std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    *time - *activation_committed_),
                                std::chrono::milliseconds(0)));
        }
      }
      measured_.after_activation = after.Summarize();
      // The skew at full clock resolution, not the tally's milliseconds.
      std::optional<Clock::time_point> first, last;
      for (const auto& device : times_) {
        const auto& time = device[static_cast<size_t>(Milestone::kActivated)];
        if (!time) continue;
        if (!first || *time < *first) first = *time;
        if (!last || *time > *last) last = *time;
      }
      if (first) {
        measured_.switch_skew =
            std::chrono::duration_cast<std::chrono::microseconds>(*last - *first);
      }
    }
    measured_.failed_devices = failed_.size();
    measured_.bytes_to_devices =
        measured_.summary[Milestone::kDownloaded].devices * measured_.bundle_bytes;
  }

  void Shutdown() {
    if (!contexts_.empty()) {
      for (size_t t = 0; t < contexts_.size(); ++t) {
        std::promise<void> stopped;
        asio::post(*contexts_[t], [&] {
          for (size_t i = t; i < devices_.size(); i += contexts_.size()) devices_[i]->Stop();
          stopped.set_value();
        });
        stopped.get_future().get();
      }
      if (unpack_pool_) unpack_pool_->join();
      for (auto& context : contexts_) context->stop();
      for (auto& thread : threads_) thread.join();
      devices_.clear();
    }
    if (watch_) watch_->Stop();
    if (cluster_.gateway) (void)peer::StopClusterDaemon(*cluster_.gateway);
    for (size_t i = 0; i < cluster_.peers.size(); ++i) (void)peer::StopPeer(cluster_, i);
  }

  const RolloutBenchOptions& options_;
  peer::Cluster cluster_;
  pid_t gateway_pid_ = 0;
  std::unique_ptr<LedgerWatch> watch_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
  std::unique_ptr<asio::thread_pool> unpack_pool_;
  std::vector<std::unique_ptr<rollout::SimulatedDevice>> devices_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::array<std::optional<Clock::time_point>, rollout::kMilestoneCount>> times_;
  std::optional<Clock::time_point> published_;
  std::optional<Clock::time_point> activation_committed_;
  size_t installed_recorded_ = 0;
  size_t committed_ = 0;
  std::set<size_t> failed_;
  Measured measured_;
};

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double Ms(std::chrono::milliseconds value) { return static_cast<double>(value.count()); }

constexpr std::chrono::milliseconds kActivationSkewGoal{250};

// One milestone's figures as both benchmarks print them with --json.
nlohmann::json MilestoneJson(const rollout::MilestoneSummary& summary) {
  return {{"devices", summary.devices},
          {"first_ms", Ms(summary.first)},
          {"p50_ms", Ms(summary.p50)},
          {"p99_ms", Ms(summary.p99)},
          {"last_ms", Ms(summary.last)}};
}

void ReportActivation(const RolloutBenchOptions& options, uint64_t size, const Measured& measured) {
  const auto& after = measured.after_activation;
  const auto& switched = after[Milestone::kActivated];
  const auto& reported = after[Milestone::kActivationCommitted];
  bool all_switched = after.all(Milestone::kActivated);
  double skew_ms = static_cast<double>(measured.switch_skew.count()) / 1000.0;
  bool met = all_switched && measured.switch_skew <= kActivationSkewGoal;
  if (options.json) {
    PrintJson({{"benchmark", "activation"},
               {"devices", options.devices},
               {"payload_bytes", size},
               {"peers", options.peers},
               {"device_threads", options.threads},
               {"app_process", false},
               {"activation_height", measured.activation_height},
               {"effective_height", measured.activation_height + 1},
               {"switched", switched.devices},
               {"failed", measured.failed_devices},
               {"failures", measured.failures},
               {"skew_ms", all_switched ? skew_ms : -1.0},
               {"switched_after_commit", MilestoneJson(switched)},
               {"activated_report_committed_after_commit", MilestoneJson(reported)},
               {"gateway_peak_rss_bytes", measured.gateway_peak_rss},
               {"stage_seconds", measured.stage_seconds},
               {"goal", "every device switches; last switch - first switch <= 250 ms"},
               {"goal_met", met}});
    return;
  }
  std::printf(
      "vigil bench activation: %zu devices of one group, %zu peers, 1 gateway process; the "
      "release (%llu-byte payload) staged everywhere, then activated from the next block\n",
      options.devices, options.peers, static_cast<unsigned long long>(size));
  std::printf(
      "devices simulated in this process on %zu threads, each with its own key, certificate, "
      "TLS session, directory and activation tracker; no app process (stop, start and health "
      "check succeed at once)\n",
      options.threads);
  std::printf("activation recorded at height %llu, effective at %llu\n",
              static_cast<unsigned long long>(measured.activation_height),
              static_cast<unsigned long long>(measured.activation_height + 1));
  std::printf("%-44s %8s %8s %8s %8s %8s\n", "ms after the activation's block committed",
              "devices", "first", "p50", "p99", "last");
  for (auto [name, summary] : {std::pair{"switched (slot current, app started)", &switched},
                               std::pair{"its activated report committed", &reported}}) {
    std::printf("%-44s %8zu %8.0f %8.0f %8.0f %8.0f\n", name, summary->devices,
                Ms(summary->first), Ms(summary->p50), Ms(summary->p99), Ms(summary->last));
  }
  std::printf("activation skew (last switch - first switch)  %.1f ms\n", skew_ms);
  std::printf("setup: enroll %.1f s, connect %.1f s, publish %.1f s, stage everywhere %.1f s\n",
              measured.enroll_seconds, measured.connect_seconds, measured.publish_seconds,
              measured.stage_seconds);
  for (const auto& failure : measured.failures) std::printf("failed: %s\n", failure.c_str());
  std::printf("goal: every device switched, skew <= %lld ms: %s\n",
              static_cast<long long>(kActivationSkewGoal.count()), met ? "met" : "NOT met");
}

void Report(const RolloutBenchOptions& options, uint64_t size, const Measured& measured) {
  if (options.activation) return ReportActivation(options, size, measured);
  const auto& summary = measured.summary;
  const auto& activated = summary[Milestone::kActivated];
  bool all_activated = summary.all(Milestone::kActivated);
  bool time_met = all_activated && activated.last <= 20s;
  bool memory_met = measured.gateway_peak_rss > 0 && measured.gateway_peak_rss <= (1ULL << 30);
  if (options.json) {
    nlohmann::json milestones = nlohmann::json::object();
    for (size_t m = 0; m < rollout::kMilestoneCount; ++m) {
      milestones[std::string(rollout::MilestoneName(static_cast<Milestone>(m)))] =
          MilestoneJson(summary.milestones[m]);
    }
    PrintJson({{"benchmark", "rollout"},
               {"devices", options.devices},
               {"payload_bytes", size},
               {"bundle_bytes", measured.bundle_bytes},
               {"peers", options.peers},
               {"device_threads", options.threads},
               {"unpack_workers", options.unpack_workers},
               {"app_process", false},
               {"activated", activated.devices},
               {"failed", measured.failed_devices},
               {"failures", measured.failures},
               {"all_activated_ms", all_activated ? Ms(activated.last) : -1.0},
               {"milestones", milestones},
               {"gateway_peak_rss_bytes", measured.gateway_peak_rss},
               {"bench_peak_rss_bytes", measured.bench_peak_rss},
               {"bytes_to_devices", measured.bytes_to_devices},
               {"enroll_seconds", measured.enroll_seconds},
               {"connect_seconds", measured.connect_seconds},
               {"publish_seconds", measured.publish_seconds},
               {"devices_directory", measured.devices_directory.parent_path().string()},
               {"goal", "all activated <= 20000 ms after the publish commit, gateway <= 1 GiB RSS"},
               {"goal_met", time_met && memory_met}});
    return;
  }
  std::printf(
      "vigil bench rollout: %zu devices, %llu-byte payload (bundle %llu bytes), %zu peers, "
      "1 gateway process\n",
      options.devices, static_cast<unsigned long long>(size),
      static_cast<unsigned long long>(measured.bundle_bytes), options.peers);
  std::printf(
      "devices simulated in this process on %zu threads (+%zu unpack workers), each with "
      "its own key, certificate, TLS session and directory; no app process (stop, start "
      "and health check succeed at once)\n",
      options.threads, options.unpack_workers);
  std::printf("%-34s %8s %10s %10s %10s %10s\n", "ms after the publish commit", "devices", "first",
              "p50", "p99", "last");
  for (size_t m = 0; m < rollout::kMilestoneCount; ++m) {
    const auto& milestone = summary.milestones[m];
    std::printf("%-34s %8zu %10.0f %10.0f %10.0f %10.0f\n",
                std::string(rollout::MilestoneName(static_cast<Milestone>(m))).c_str(),
                milestone.devices, Ms(milestone.first), Ms(milestone.p50), Ms(milestone.p99),
                Ms(milestone.last));
  }
  std::printf("gateway peak RSS (VmHWM)           %.0f MiB\n", MiB(measured.gateway_peak_rss));
  std::printf("bundle bytes to devices            %.0f MiB\n", MiB(measured.bytes_to_devices));
  std::printf("bench process peak RSS             %.0f MiB\n", MiB(measured.bench_peak_rss));
  std::printf(
      "setup: enroll %.1f s, connect %.1f s, publish (upload + commit) %.1f s; devices in %s\n",
      measured.enroll_seconds, measured.connect_seconds, measured.publish_seconds,
      measured.devices_directory.string().c_str());
  for (const auto& failure : measured.failures) std::printf("failed: %s\n", failure.c_str());
  std::printf("goal: all activated <= 20 s: %s; gateway <= 1 GiB: %s\n",
              time_met ? "met" : "NOT met", memory_met ? "met" : "NOT met");
}

Status RunRolloutBench(const RolloutBenchOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t size, ParseBenchSize(options.size));
  if (options.devices == 0 || options.devices > kDevicesMax) {
    return Fail(ErrorCode::kInvalidArgument, "--devices must be 1.." + std::to_string(kDevicesMax));
  }
  if (options.threads == 0 || options.threads > 64 || options.unpack_workers == 0 ||
      options.unpack_workers > 64) {
    return Fail(ErrorCode::kInvalidArgument, "--threads and --unpack-workers must be 1..64");
  }
  std::filesystem::path root = options.directory;
  if (root.empty()) {
    // Every device writes the bundle and its slot: tmpfs when it holds them with room to spare.
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (FreeBytes("/dev/shm") > 3 * size * options.devices + (1ULL << 30)) base = "/dev/shm";
    std::string pattern = (base / "vigil-bench-rollout-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "cannot create a temporary directory in " + base.string());
    }
    root = pattern;
  }
  RolloutBench bench(options);
  Status status = bench.Run(root, size);
  if (!options.keep) {
    std::error_code ignored;
    if (status) {
      std::filesystem::remove_all(root, ignored);
    } else {
      std::filesystem::remove_all(root / "devices", ignored);  // the bulk; logs are kept
    }
  }
  if (!status) {
    return std::unexpected(
        status.error().WithContext("logs kept in " + (root / "cluster").string()));
  }
  Report(options, size, bench.measured());
  return Ok();
}

}  // namespace

// The options both benchmarks share; `name` is "rollout" or "activation".
void AddFleetBenchCommand(CLI::App& bench, CommandContext& context, const char* name,
                          const char* description, RolloutBenchOptions defaults) {
  CLI::App* command = bench.add_subcommand(name, description);
  auto options = std::make_shared<RolloutBenchOptions>(std::move(defaults));
  command->add_option("--devices", options->devices, "Simulated devices")->capture_default_str();
  command->add_option("--size", options->size, "Payload of the release (e.g. 10MB)")
      ->capture_default_str();
  command->add_option("--peers", options->peers, "Ledger peers")->capture_default_str();
  command->add_option("--threads", options->threads, "Threads running the devices' sessions")
      ->capture_default_str();
  command
      ->add_option("--unpack-workers", options->unpack_workers,
                   "Threads unpacking and verifying bundles")
      ->capture_default_str();
  command
      ->add_option("--timeout", options->timeout_seconds,
                   "Seconds to wait for each phase before reporting what was reached")
      ->capture_default_str();
  command->add_option("--dir", options->directory,
                      "Working directory (default: a temporary one, on /dev/shm when it has room)");
  command->add_flag("--keep", options->keep, "Keep the working directory");
  command->add_flag("--json", options->json, "Print the figures as one JSON object");
  command->callback([options, &context, name] {
    spdlog::set_level(spdlog::level::err);
    if (Status status = RunRolloutBench(*options); !status) {
      ReportError(context, std::string("bench ") + name, status.error());
    }
  });
}

void RegisterBenchRolloutCommand(CLI::App& app, CommandContext& context) {
  CLI::App* bench = app.get_subcommand("bench");
  AddFleetBenchCommand(
      *bench, context, "rollout",
      "One release to a fleet: peers and a gateway on this machine, many simulated devices in "
      "this process (own key, certificate, TLS session and directory each); time until all "
      "activated, gateway memory",
      RolloutBenchOptions{});
  RolloutBenchOptions activation;
  activation.activation = true;
  activation.devices = 100;
  activation.size = "100KB";
  AddFleetBenchCommand(
      *bench, context, "activation",
      "Coordinated activation: the fleet bench's devices stage a release, one activation "
      "makes it effective at the next block; the spread between the first and the last "
      "device switching",
      std::move(activation));
}
VIGIL_REGISTER_COMMAND(kOrderBench + 3, RegisterBenchRolloutCommand);

}  // namespace vigil::cli
