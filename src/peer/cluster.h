// A local cluster of real peer processes on loopback: what `vigil cluster up|down`, the
// multi-process tests and `vigil bench ledger` run (docs/peer.md#local-cluster).
//
// `CreateCluster` writes a complete, self-contained directory:
//   DIR/cluster.json          what is where (read back by ReadCluster)
//   DIR/genesis.json          chain id, validators with their loopback addresses, admins
//   DIR/ca/                   the fleet CA (`vigil pki init`)
//   DIR/admin-N/              admin keys with a client certificate (role admin)
//   DIR/publisher/            a publisher key with a client certificate (role publisher)
//   DIR/peer-N/node/          the peer's key (its validator key) and certificate (role peer)
//   DIR/peer-N/peer.toml      its configuration; DIR/peer-N/data/ its store
// and, with `devices` > 0, a plant on the same machine:
//   DIR/gateway/node/         the gateway's key and certificate (role gateway)
//   DIR/gateway/gateway.toml  its configuration: every peer's client API and artifact store
//   DIR/device-N/node/        a device's key and certificate (role device)
//   DIR/device-N/agent.toml   its agent's configuration; DIR/device-N/state/ its slots (and
//   artifacts/,
//                             the artifact store it serves on its artifacts port)
// `StartPeer` runs `vigil peer --config DIR/peer-N/peer.toml` as a child in its own session,
// logging to DIR/peer-N/peer.log, and records its pid in DIR/peer-N/peer.pid.
//
// Thread-safety: functions touch files and processes; call them from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "api/client.h"
#include "common/error.h"
#include "store/block_store.h"

namespace vigil::peer {

struct ClusterSpec {
  std::filesystem::path directory;
  size_t peers = 4;
  std::string chain_id = "vigil-local";
  std::string host = "127.0.0.1";
  uint16_t base_port = 0;  // 0: free ports picked now
  size_t admins = 1;
  size_t admin_threshold = 1;
  std::chrono::milliseconds empty_block_interval{1000};
  std::chrono::milliseconds timeout_propose{1000};
  bool durable = true;  // sync = "full"; false: "normal"
  size_t verify_threads = 2;
  // A gateway and this many devices (0: none), all of `device_group`, running `device_apps`.
  size_t devices = 0;
  std::string device_group = "line-1";
  std::vector<std::string> device_apps = {"press-control"};
  // true: the agents activate each release as soon as it is installed (seed 001, their
  // `auto_activate` lists every app); false: they stage it and wait for `vigil activate`.
  bool device_auto_activate = true;
};

struct ClusterPeer {
  std::string name;
  std::filesystem::path directory;  // DIR/peer-N
  std::filesystem::path config;
  std::string host;
  uint16_t port = 0;
  uint16_t artifacts_port = 0;  // its artifact store (HTTPS, docs/artifacts.md)
};

struct ClusterDaemon {
  std::string name;                 // "gateway", "device-1", ...
  std::filesystem::path directory;  // DIR/<name>
  std::filesystem::path config;     // gateway.toml or agent.toml
  uint16_t port = 0;                // the gateway's device port (0 for devices)
};

struct Cluster {
  std::filesystem::path directory;
  std::string chain_id;
  std::filesystem::path genesis;
  std::vector<ClusterPeer> peers;
  std::vector<std::filesystem::path> admins;  // node directories: key.pem, cert.pem, ca.pem
  std::filesystem::path publisher;
  size_t admin_threshold = 1;
  std::optional<ClusterDaemon> gateway;  // present when the cluster has devices
  std::vector<ClusterDaemon> devices;
  std::string device_group;
};

// Refuses a directory that already holds a cluster.
Expected<Cluster> CreateCluster(const ClusterSpec& spec);
Expected<Cluster> ReadCluster(const std::filesystem::path& directory);

// The running `vigil` binary (/proc/self/exe), which StartPeer runs.
std::filesystem::path CurrentExecutable();

// Starts peer `index` as a child process; `extra_arguments` are appended (tests pass
// --test-byzantine). Returns its pid.
Expected<pid_t> StartPeer(const Cluster& cluster, size_t index,
                          const std::filesystem::path& vigil_binary,
                          const std::vector<std::string>& extra_arguments = {});
// The pid recorded for peer `index`, if that process is alive.
std::optional<pid_t> RunningPeer(const Cluster& cluster, size_t index);
// SIGTERM, then SIGKILL after `grace`; reaps it when it is our child. `kill_now` sends SIGKILL
// at once (crash tests).
Status StopPeer(const Cluster& cluster, size_t index,
                std::chrono::milliseconds grace = std::chrono::milliseconds(5000),
                bool kill_now = false);

// The gateway and the agents run as `vigil gateway|agent --config ...` children like the
// peers, logging to DIR/<name>/<name>.log with their pid in DIR/<name>/<name>.pid.
Expected<pid_t> StartClusterDaemon(const Cluster& cluster, const ClusterDaemon& daemon,
                                   const std::filesystem::path& vigil_binary);
std::optional<pid_t> RunningClusterDaemon(const ClusterDaemon& daemon);
Status StopClusterDaemon(const ClusterDaemon& daemon,
                         std::chrono::milliseconds grace = std::chrono::milliseconds(5000),
                         bool kill_now = false);

// Enrolls every device of the cluster in its group, signed by as many of the cluster's admins
// as the threshold needs; a device already enrolled is left as it is.
Status EnrollClusterDevices(const Cluster& cluster, api::ApiClient& client);

}  // namespace vigil::peer
