// `vigil bench update --rounds 20 --size 10MB`: seed 001's Table 6.2, reproduced by the system
// itself. A local cluster (4 peer processes with their artifact stores), a gateway (in this
// process, so its own fetch timings can be read) and one device agent (a process); each round
// publishes a new version with a payload of `--size` random bytes and waits until the device
// reports it activated. Every stage is stamped where it happens:
//
//   download               the gateway's fetch from an artifact store   (GatewayStatus)
//   gateway verification   its size + SHA-256 check before caching       (GatewayStatus)
//   transmission           the device's chunked download from the gateway (installed report)
//   device verification    every unpacked file against the manifest      (installed report)
//   installation           unpack + verify + fsync into a new slot       (installed report)
//   restart                stop old, switch, start new, health check      (activated report)
//   total                  publish committed -> activation committed      (this process, as
//                          both blocks arrive on its ledger subscription)
//
// The seed measured a mean total of 18 s with a 10 s polling interval; Vigil has no polling.
#include <CLI/CLI.hpp>
#include <stdlib.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/ledger_watch.h"
#include "cli/local_cluster.h"
#include "cli/peer_target.h"
#include "common/file.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/mirror_fetch.h"
#include "peer/cluster.h"
#include "publish/publish.h"
#include "release/bundle.h"

namespace vigil::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
constexpr char kApp[] = "line-controller";
constexpr std::chrono::seconds kRoundTimeout{120};

struct UpdateBenchOptions {
  size_t rounds = 20;
  std::string size = "10MB";
  size_t peers = 4;
  std::string directory;
  bool keep = false;
  bool json = false;
};

// "10MB", "512KB", "1GB", "4096" (bytes); decimal units as in the seed's table.
Expected<uint64_t> ParseSize(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  std::ranges::transform(unit, unit.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1}, {"B", 1}, {"KB", 1'000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}};
  auto unit_found = kUnits.find(unit);
  if (digits == 0 || digits > 6 || unit_found == kUnits.end()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--size '" + text + "': write a number with B, KB, MB or GB, e.g. 10MB");
  }
  uint64_t size = std::stoull(text.substr(0, digits)) * unit_found->second;
  if (size == 0 || size > 4'000'000'000) {
    return Fail(ErrorCode::kInvalidArgument, "--size must be 1 byte to 4 GB");
  }
  return size;
}

// What one round measured, in milliseconds.
struct Round {
  double download = 0, gateway_verification = 0, transmission = 0, device_verification = 0,
         installation = 0, restart = 0, total = 0, publish = 0;
};

// What the ledger watch saw of one version.
struct Seen {
  std::optional<Clock::time_point> published, activated;
  std::optional<history::Row> installed, activated_row;
  std::string refused;  // a rollback or a refusal, which ends the round
};

uint64_t DetailNumber(const std::string& detail, const std::string& key) {
  size_t at = detail.find(key + "=");
  if (at == std::string::npos) return 0;
  return std::strtoull(detail.c_str() + at + key.size() + 1, nullptr, 10);
}

double Milliseconds(std::chrono::microseconds duration) {
  return static_cast<double>(duration.count()) / 1000.0;
}

class UpdateBench {
 public:
  explicit UpdateBench(const UpdateBenchOptions& options) : options_(options) {}

  Status Run(const std::filesystem::path& root, uint64_t size) {
    peer::ClusterSpec spec;
    spec.directory = root / "cluster";
    spec.peers = options_.peers;
    spec.chain_id = "vigil-bench-update";
    spec.devices = 1;
    spec.device_apps = {kApp};
    VIGIL_ASSIGN_OR_RETURN(cluster_, peer::CreateCluster(spec));
    Status status = RunRounds(root, size);
    Shutdown();
    return status;
  }

  const std::vector<Round>& rounds() const { return rounds_; }

 private:
  Status RunRounds(const std::filesystem::path& root, uint64_t size) {
    auto binary = peer::CurrentExecutable();
    for (size_t i = 0; i < cluster_.peers.size(); ++i) {
      VIGIL_RETURN_IF_ERROR(peer::StartPeer(cluster_, i, binary));
    }
    VIGIL_RETURN_IF_ERROR(WaitForPeers(cluster_, 60s));
    {
      PeerTarget target{.cluster = cluster_.directory.string(), .peer = "", .as = ""};
      VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(target));
      VIGIL_RETURN_IF_ERROR(peer::EnrollClusterDevices(cluster_, *client));
    }
    VIGIL_RETURN_IF_ERROR(StartGateway());
    VIGIL_RETURN_IF_ERROR(peer::StartClusterDaemon(cluster_, cluster_.devices.front(), binary));
    watch_ = std::make_unique<LedgerWatch>(
        cluster_, [this](const history::Row& row, Clock::time_point received) { OnRow(row, received); });
    VIGIL_RETURN_IF_ERROR(watch_->Start());

    std::mt19937_64 random(size);
    for (size_t round = 1; round <= options_.rounds; ++round) {
      std::string version = "1." + std::to_string(round) + ".0";
      VIGIL_ASSIGN_OR_RETURN(auto bundle, BuildRelease(root, version, size, random));
      VIGIL_ASSIGN_OR_RETURN(Round measured, RunRound(bundle, version));
      rounds_.push_back(measured);
      if (!options_.json) {
        std::fprintf(stderr, "round %zu/%zu: %s activated, total %.0f ms\n", round,
                     options_.rounds, version.c_str(), measured.total);
      }
    }
    return Ok();
  }

  Status StartGateway() {
    VIGIL_ASSIGN_OR_RETURN(gateway::GatewayConfig config,
                           gateway::LoadGatewayConfig(cluster_.gateway->config));
    loop_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(loop_);
      loop_.run();
    });
    std::promise<Status> started;
    asio::post(loop_, [&] {
      auto fetch = gateway::MakeMirrorFetch(config.mirrors, {.ca_file = config.ca_file});
      auto running = gateway::Gateway::Start(loop_, std::move(config.options), std::move(fetch));
      if (!running) {
        started.set_value(std::unexpected(running.error()));
        return;
      }
      gateway_ = std::move(*running);
      started.set_value(Ok());
    });
    return started.get_future().get();
  }

  gateway::GatewayStatus GatewayNow() {
    std::promise<gateway::GatewayStatus> status;
    asio::post(loop_, [&] { status.set_value(gateway_->status()); });
    return status.get_future().get();
  }

  Expected<std::filesystem::path> BuildRelease(const std::filesystem::path& root,
                                               const std::string& version, uint64_t size,
                                               std::mt19937_64& random) {
    std::filesystem::path source = root / "releases" / version;
    VIGIL_RETURN_IF_ERROR(EnsureDirectory(source / "data", 0755));
    std::string script = "#!/bin/sh\nexec sleep 100000\n";
    VIGIL_RETURN_IF_ERROR(WriteFileAtomically(source / "run.sh", AsBytes(script), 0755));
    Bytes payload(size);  // random: incompressible, the worst case for transfer
    for (size_t i = 0; i + 8 <= payload.size(); i += 8) {
      uint64_t word = random();
      std::memcpy(payload.data() + i, &word, 8);
    }
    VIGIL_RETURN_IF_ERROR(WriteFileAtomically(source / "data" / "model.bin", payload, 0644));
    release::BuildOptions options;
    options.app = kApp;
    options.version = version;
    options.entry = {"run.sh"};
    options.health.command = {"/bin/true"};
    std::filesystem::path bundle = root / "releases" / (version + ".vigil");
    VIGIL_RETURN_IF_ERROR(release::BuildBundle(source, options, bundle));
    std::error_code ignored;
    std::filesystem::remove_all(source, ignored);
    return bundle;
  }

  Expected<Round> RunRound(const std::filesystem::path& bundle, const std::string& version) {
    auto publish_started = std::chrono::steady_clock::now();
    VIGIL_ASSIGN_OR_RETURN(publish::PublishRequest request,
                           publish::RequestForCluster(cluster_, bundle));
    VIGIL_ASSIGN_OR_RETURN(publish::PublishOutcome outcome, publish::PublishBundle(request, {}));
    (void)outcome;
    Round round;
    round.publish = Milliseconds(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - publish_started));
    std::unique_lock lock(mutex_);
    bool done = changed_.wait_for(lock, kRoundTimeout, [&] {
      const Seen& seen = seen_[version];
      return (seen.activated && seen.published && seen.installed) || !seen.refused.empty();
    });
    Seen seen = seen_[version];
    lock.unlock();
    if (!seen.refused.empty()) {
      return Fail(ErrorCode::kRefused, version + " was not activated: " + seen.refused);
    }
    if (!done) {
      return Fail(ErrorCode::kTimeout, version + " was not activated within " +
                                           std::to_string(kRoundTimeout.count()) + " s; logs in " +
                                           cluster_.directory.string());
    }
    for (const auto& fetch : GatewayNow().fetches) {
      if (fetch.version != version) continue;
      round.download = Milliseconds(fetch.download);
      round.gateway_verification = Milliseconds(fetch.verification);
    }
    round.transmission = static_cast<double>(DetailNumber(seen.installed->detail, "transmission_ms"));
    round.device_verification =
        static_cast<double>(DetailNumber(seen.installed->detail, "verification_ms"));
    round.installation = static_cast<double>(seen.installed->duration_ms);
    round.restart = static_cast<double>(seen.activated_row->duration_ms);
    round.total = Milliseconds(
        std::chrono::duration_cast<std::chrono::microseconds>(*seen.activated - *seen.published));
    return round;
  }

  void OnRow(const history::Row& row, Clock::time_point received) {
    if (row.app != kApp) return;
    std::lock_guard lock(mutex_);
    Seen& seen = seen_[row.version];
    std::string kind(history::RowKindName(row.kind));
    if (!row.result.ok()) {
      seen.refused = kind + " refused: " + row.result.reason;
    } else if (row.kind == history::RowKind::kPublish) {
      seen.published = received;
    } else if (row.kind == history::RowKind::kInstalled) {
      seen.installed = row;
    } else if (row.kind == history::RowKind::kActivated) {
      seen.activated = received;
      seen.activated_row = row;
    } else if (row.kind == history::RowKind::kRolledBack) {
      seen.refused = "rolled back: " + row.detail;
    }
    changed_.notify_all();
  }

  void Shutdown() {
    if (watch_) watch_->Stop();
    for (const auto& device : cluster_.devices) (void)peer::StopClusterDaemon(device);
    if (loop_thread_.joinable()) {
      std::promise<void> stopped;
      asio::post(loop_, [&] {
        if (gateway_) gateway_->Stop();
        gateway_.reset();
        stopped.set_value();
      });
      stopped.get_future().get();
      loop_.stop();
      loop_thread_.join();
    }
    for (size_t i = 0; i < cluster_.peers.size(); ++i) (void)peer::StopPeer(cluster_, i);
  }

  const UpdateBenchOptions& options_;
  peer::Cluster cluster_;
  asio::io_context loop_;
  std::thread loop_thread_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<LedgerWatch> watch_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Seen> seen_;
  std::vector<Round> rounds_;
};

struct Summary {
  double mean = 0, stdev = 0, p50 = 0, p99 = 0;
};

Summary Summarize(std::vector<double> values) {
  Summary summary;
  if (values.empty()) return summary;
  std::ranges::sort(values);
  double sum = 0;
  for (double value : values) sum += value;
  summary.mean = sum / static_cast<double>(values.size());
  double squares = 0;
  for (double value : values) squares += (value - summary.mean) * (value - summary.mean);
  summary.stdev = values.size() > 1 ? std::sqrt(squares / static_cast<double>(values.size() - 1)) : 0;
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto rank = [&](double q) {
    size_t index = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(index, 1, values.size()) - 1];
  };
  summary.p50 = rank(0.50);
  summary.p99 = rank(0.99);
  return summary;
}

void Report(const UpdateBenchOptions& options, uint64_t size, const std::vector<Round>& rounds) {
  const std::vector<std::pair<const char*, double Round::*>> stages = {
      {"download", &Round::download},
      {"gateway verification", &Round::gateway_verification},
      {"transmission", &Round::transmission},
      {"device verification", &Round::device_verification},
      {"installation", &Round::installation},
      {"restart", &Round::restart},
      {"total", &Round::total},
      {"(publish: upload + commit)", &Round::publish}};
  nlohmann::json json_stages = nlohmann::json::object();
  if (!options.json) {
    std::printf("vigil bench update: %zu rounds, %llu-byte payload, %zu peers, 1 gateway, 1 device\n",
                rounds.size(), static_cast<unsigned long long>(size), options.peers);
    std::printf("%-28s %10s %10s %10s %10s\n", "stage (ms)", "mean", "stdev", "p50", "p99");
  }
  for (const auto& [name, member] : stages) {
    std::vector<double> values;
    for (const Round& round : rounds) values.push_back(round.*member);
    Summary summary = Summarize(values);
    if (options.json) {
      json_stages[name] = {{"mean_ms", summary.mean}, {"stdev_ms", summary.stdev},
                           {"p50_ms", summary.p50}, {"p99_ms", summary.p99}};
    } else {
      std::printf("%-28s %10.1f %10.1f %10.1f %10.1f\n", name, summary.mean, summary.stdev,
                  summary.p50, summary.p99);
    }
  }
  Summary total = Summarize([&] {
    std::vector<double> values;
    for (const Round& round : rounds) values.push_back(round.total);
    return values;
  }());
  bool met = total.p50 <= 1000 && total.p99 <= 2000;
  if (options.json) {
    PrintJson({{"benchmark", "update"}, {"rounds", rounds.size()}, {"payload_bytes", size},
               {"peers", options.peers}, {"stages", json_stages},
               {"goal", "total p50 <= 1000 ms, p99 <= 2000 ms"}, {"goal_met", met}});
  } else {
    std::printf("goal: total p50 <= 1000 ms and p99 <= 2000 ms: %s (seed 001: mean 18 s with 10 s "
                "polling)\n", met ? "met" : "NOT met");
  }
}

Status RunUpdateBench(const UpdateBenchOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t size, ParseSize(options.size));
  if (options.rounds == 0 || options.rounds > 1000) {
    return Fail(ErrorCode::kInvalidArgument, "--rounds must be 1..1000");
  }
  std::filesystem::path root = options.directory;
  if (root.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "vigil-bench-update-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kIOError, "cannot create a temporary directory");
    }
    root = pattern;
  }
  UpdateBench bench(options);
  Status status = bench.Run(root, size);
  if (status && !options.keep) {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  if (!status) {
    return std::unexpected(status.error().WithContext("files kept in " + root.string()));
  }
  Report(options, size, bench.rounds());
  return Ok();
}

}  // namespace

void RegisterBenchUpdateCommand(CLI::App& app, CommandContext& context) {
  CLI::App* bench = app.get_subcommand("bench");
  CLI::App* update = bench->add_subcommand(
      "update",
      "Seed 001's Table 6.2: peers, a gateway and a device on this machine; each round publishes "
      "a new version and times every stage until the device runs it");
  auto options = std::make_shared<UpdateBenchOptions>();
  update->add_option("--rounds", options->rounds, "Releases to publish")->capture_default_str();
  update->add_option("--size", options->size, "Payload of each release (e.g. 10MB)")
      ->capture_default_str();
  update->add_option("--peers", options->peers, "Ledger peers")->capture_default_str();
  update->add_option("--dir", options->directory, "Working directory (default: a temporary one)");
  update->add_flag("--keep", options->keep, "Keep the working directory");
  update->add_flag("--json", options->json, "Print the figures as one JSON object");
  update->callback([options, &context] {
    spdlog::set_level(spdlog::level::err);
    if (Status status = RunUpdateBench(*options); !status) {
      ReportError(context, "bench update", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderBench + 1, RegisterBenchUpdateCommand);

}  // namespace vigil::cli
