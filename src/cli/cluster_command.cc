// `vigil cluster up|down|stop|start`: a local cluster of real peer processes on loopback, with
// keys, certificates and genesis generated (docs/peer.md#local-cluster).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/local_cluster.h"
#include "cli/peer_target.h"
#include "common/bytes.h"
#include "peer/cluster.h"

namespace vigil::cli {
namespace {

struct UpOptions {
  std::string directory;
  size_t peers = 4;
  std::string chain_id = "vigil-local";
  uint16_t base_port = 0;
  size_t admins = 1;
  size_t admin_threshold = 1;
  int64_t empty_block_interval_ms = 1000;
  bool fast_sync = false;
  uint32_t wait_seconds = 30;
  size_t devices = 0;
  std::string group = "line-1";
  std::vector<std::string> apps = {"press-control"};
  bool staged = false;
  bool json = false;
};

struct DownOptions {
  std::string directory;
  bool purge = false;
};

// `vigil cluster stop|start --dir D NAME...`: one process of the cluster, by the name its
// directory has (peer-N, gateway, device-N) — a device offline while the fleet moves on, a peer
// crashed and restarted.
struct ProcessesOptions {
  std::string directory;
  std::vector<std::string> names;
  bool kill = false;  // stop only: SIGKILL at once, as a crash would
};

// What a name refers to: one of the cluster's peers (index), or its gateway or a device.
struct ClusterProcess {
  std::optional<size_t> peer;
  const peer::ClusterDaemon* daemon = nullptr;
};

Expected<ClusterProcess> FindProcess(const peer::Cluster& cluster, const std::string& name) {
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    if (cluster.peers[i].name == name) return ClusterProcess{.peer = i, .daemon = nullptr};
  }
  if (cluster.gateway && cluster.gateway->name == name) {
    return ClusterProcess{.peer = std::nullopt, .daemon = &*cluster.gateway};
  }
  for (const auto& device : cluster.devices) {
    if (device.name == name) return ClusterProcess{.peer = std::nullopt, .daemon = &device};
  }
  std::string known;
  for (const auto& peer : cluster.peers) known += " " + peer.name;
  if (cluster.gateway) known += " " + cluster.gateway->name;
  for (const auto& device : cluster.devices) known += " " + device.name;
  return Fail(ErrorCode::kNotFound, "cluster " + cluster.directory.string() + " has no process '" +
                                        name + "' (it has:" + known + ")");
}

Status RunStop(const ProcessesOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.directory));
  for (const auto& name : options.names) {
    VIGIL_ASSIGN_OR_RETURN(ClusterProcess process, FindProcess(cluster, name));
    constexpr std::chrono::milliseconds kGrace(5000);
    if (process.peer) {
      VIGIL_RETURN_IF_ERROR(peer::StopPeer(cluster, *process.peer, kGrace, options.kill));
    } else {
      VIGIL_RETURN_IF_ERROR(peer::StopClusterDaemon(*process.daemon, kGrace, options.kill));
    }
    std::printf("stopped %s\n", name.c_str());
  }
  return Ok();
}

Status RunStart(const ProcessesOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.directory));
  auto binary = peer::CurrentExecutable();
  for (const auto& name : options.names) {
    VIGIL_ASSIGN_OR_RETURN(ClusterProcess process, FindProcess(cluster, name));
    bool running = process.peer ? peer::RunningPeer(cluster, *process.peer).has_value()
                                : peer::RunningClusterDaemon(*process.daemon).has_value();
    if (running) {
      std::printf("%s is already running\n", name.c_str());
      continue;
    }
    pid_t pid = 0;
    if (process.peer) {
      VIGIL_ASSIGN_OR_RETURN(pid, peer::StartPeer(cluster, *process.peer, binary));
    } else {
      VIGIL_ASSIGN_OR_RETURN(pid, peer::StartClusterDaemon(cluster, *process.daemon, binary));
    }
    std::printf("started %s (pid %d)\n", name.c_str(), static_cast<int>(pid));
  }
  return Ok();
}

Status RunUp(const UpOptions& options) {
  peer::ClusterSpec spec;
  spec.directory = options.directory;
  spec.peers = options.peers;
  spec.chain_id = options.chain_id;
  spec.base_port = options.base_port;
  spec.admins = options.admins;
  spec.admin_threshold = options.admin_threshold;
  spec.empty_block_interval = std::chrono::milliseconds(options.empty_block_interval_ms);
  spec.durable = !options.fast_sync;
  spec.devices = options.devices;
  spec.device_group = options.group;
  spec.device_apps = options.apps;
  spec.device_auto_activate = !options.staged;
  auto existing = peer::ReadCluster(options.directory);
  peer::Cluster cluster;
  if (existing) {
    cluster = std::move(*existing);  // restart a stopped cluster
  } else {
    VIGIL_ASSIGN_OR_RETURN(cluster, peer::CreateCluster(spec));
  }
  auto binary = peer::CurrentExecutable();
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    if (peer::RunningPeer(cluster, i)) continue;
    auto started = peer::StartPeer(cluster, i, binary);
    if (!started) return std::unexpected(started.error());
  }
  VIGIL_ASSIGN_OR_RETURN(auto statuses,
                         WaitForPeers(cluster, std::chrono::seconds(options.wait_seconds)));
  VIGIL_RETURN_IF_ERROR(StartPlant(cluster, binary));
  if (options.json) {
    nlohmann::json peers = nlohmann::json::array();
    for (size_t i = 0; i < cluster.peers.size(); ++i) {
      peers.push_back(
          {{"name", cluster.peers[i].name},
           {"address", cluster.peers[i].host + ":" + std::to_string(cluster.peers[i].port)},
           {"pid", peer::RunningPeer(cluster, i).value_or(0)},
           {"height", statuses[i].height}});
    }
    nlohmann::json result = {{"directory", cluster.directory.string()},
                             {"chain_id", cluster.chain_id},
                             {"peers", peers}};
    if (cluster.gateway) {
      result["gateway"] = {{"address", "127.0.0.1:" + std::to_string(cluster.gateway->port)},
                           {"pid", peer::RunningClusterDaemon(*cluster.gateway).value_or(0)}};
      for (const auto& device : cluster.devices) {
        result["devices"].push_back(
            {{"name", device.name}, {"pid", peer::RunningClusterDaemon(device).value_or(0)}});
      }
    }
    PrintJson(result);
    return Ok();
  }
  std::printf("cluster %s is up: chain %s, %zu peers\n", cluster.directory.c_str(),
              cluster.chain_id.c_str(), cluster.peers.size());
  std::printf("  %-8s %-22s %-8s %s\n", "peer", "address", "pid", "height");
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    std::printf("  %-8s %-22s %-8d %llu\n", cluster.peers[i].name.c_str(),
                (cluster.peers[i].host + ":" + std::to_string(cluster.peers[i].port)).c_str(),
                static_cast<int>(peer::RunningPeer(cluster, i).value_or(0)),
                static_cast<unsigned long long>(statuses[i].height));
  }
  if (cluster.gateway) {
    std::printf("  %-8s %-22s %-8d\n", "gateway",
                ("127.0.0.1:" + std::to_string(cluster.gateway->port)).c_str(),
                static_cast<int>(peer::RunningClusterDaemon(*cluster.gateway).value_or(0)));
    for (const auto& device : cluster.devices) {
      std::printf("  %-8s %-22s %-8d\n", device.name.c_str(), cluster.device_group.c_str(),
                  static_cast<int>(peer::RunningClusterDaemon(device).value_or(0)));
    }
  }
  std::printf("logs: %s/peer-N/peer.log   try: vigil ledger status --cluster %s\n",
              cluster.directory.c_str(), cluster.directory.c_str());
  return Ok();
}

Status RunDown(const DownOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(options.directory));
  size_t stopped = 0;
  // Devices first, then the gateway, then the ledger they report to.
  for (const auto& device : cluster.devices) {
    if (peer::RunningClusterDaemon(device)) ++stopped;
    VIGIL_RETURN_IF_ERROR(peer::StopClusterDaemon(device));
  }
  if (cluster.gateway) {
    if (peer::RunningClusterDaemon(*cluster.gateway)) ++stopped;
    VIGIL_RETURN_IF_ERROR(peer::StopClusterDaemon(*cluster.gateway));
  }
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    if (!peer::RunningPeer(cluster, i)) continue;
    VIGIL_RETURN_IF_ERROR(peer::StopPeer(cluster, i));
    ++stopped;
  }
  std::printf("stopped %zu process%s of %s\n", stopped, stopped == 1 ? "" : "es",
              cluster.directory.c_str());
  if (options.purge) {
    std::error_code error;
    std::filesystem::remove_all(cluster.directory, error);
    if (error) {
      return Fail(ErrorCode::kIOError,
                  "cannot remove " + cluster.directory.string() + ": " + error.message());
    }
    std::printf("removed %s\n", cluster.directory.c_str());
  }
  return Ok();
}

}  // namespace

void RegisterClusterCommand(CLI::App& app, CommandContext& context) {
  CLI::App* cluster = app.add_subcommand(
      "cluster",
      "A local cluster of real peer processes on loopback (keys, certificates and "
      "genesis generated)");
  cluster->require_subcommand(1);

  CLI::App* up = cluster->add_subcommand(
      "up", "Create the cluster in DIR (or reuse the one there) and start every peer");
  auto up_options = std::make_shared<UpOptions>();
  up->add_option("--dir", up_options->directory, "Cluster directory")->required();
  up->add_option("--peers", up_options->peers, "Validators (3f+1 tolerates f Byzantine)")
      ->capture_default_str();
  up->add_option("--chain-id", up_options->chain_id, "Chain id")->capture_default_str();
  up->add_option("--base-port", up_options->base_port,
                 "First port (peer N listens on base+N-1); default: free ports");
  up->add_option("--admins", up_options->admins, "Admin keys in the genesis")
      ->capture_default_str();
  up->add_option("--admin-threshold", up_options->admin_threshold,
                 "Admin signatures governance needs (k of n)")
      ->capture_default_str();
  up->add_option("--empty-block-interval-ms", up_options->empty_block_interval_ms,
                 "How often a block is made with no transactions")
      ->capture_default_str();
  up->add_flag("--fast-sync", up_options->fast_sync,
               "sync = \"normal\": survives kill -9 but not power loss (benchmarks only)");
  up->add_option("--wait", up_options->wait_seconds, "Seconds to wait for every peer to answer")
      ->capture_default_str();
  up->add_option("--devices", up_options->devices,
                 "Also a gateway and this many devices (agents) on this machine")
      ->capture_default_str();
  up->add_option("--group", up_options->group, "The devices' group")->capture_default_str();
  up->add_option("--apps", up_options->apps, "The apps the devices run")->capture_default_str();
  up->add_flag("--staged", up_options->staged,
               "Devices stage each release and switch only on `vigil activate` (seed 002); "
               "without it they activate as soon as installed (auto_activate)");
  up->add_flag("--json", up_options->json, "Print a JSON object instead of text");
  up->callback([up_options, &context] {
    if (Status status = RunUp(*up_options); !status) {
      ReportError(context, "cluster up", status.error());
    }
  });

  CLI::App* down = cluster->add_subcommand(
      "down", "Stop every process of the cluster in DIR (devices, gateway, peers)");
  auto down_options = std::make_shared<DownOptions>();
  down->add_option("--dir", down_options->directory, "Cluster directory")->required();
  down->add_flag("--purge", down_options->purge, "Also delete the directory and its ledger");
  down->callback([down_options, &context] {
    if (Status status = RunDown(*down_options); !status) {
      ReportError(context, "cluster down", status.error());
    }
  });

  auto add_processes_command = [&](const char* name, const char* description, auto run) {
    CLI::App* command = cluster->add_subcommand(name, description);
    auto options = std::make_shared<ProcessesOptions>();
    command->add_option("--dir", options->directory, "Cluster directory")->required();
    command->add_option("names", options->names, "peer-N, gateway or device-N")->required();
    if (std::string(name) == "stop") {
      command->add_flag("--kill", options->kill, "SIGKILL at once (a crash) instead of SIGTERM");
    }
    command->callback([options, &context, name, run] {
      if (Status status = run(*options); !status) {
        ReportError(context, std::string("cluster ") + name, status.error());
      }
    });
  };
  add_processes_command("stop", "Stop some processes of the cluster in DIR, by name", RunStop);
  add_processes_command("start", "Start stopped processes of the cluster in DIR, by name",
                        RunStart);
}
VIGIL_REGISTER_COMMAND(kOrderCluster, RegisterClusterCommand);

}  // namespace vigil::cli
