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
//   DIR/peer-N/peer.toml      its configuration; DIR/peer-N/data/ its store (and artifacts/,
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
};

struct ClusterPeer {
  std::string name;
  std::filesystem::path directory;  // DIR/peer-N
  std::filesystem::path config;
  std::string host;
  uint16_t port = 0;
  uint16_t artifacts_port = 0;  // its artifact store (HTTPS, docs/artifacts.md)
};

struct Cluster {
  std::filesystem::path directory;
  std::string chain_id;
  std::filesystem::path genesis;
  std::vector<ClusterPeer> peers;
  std::vector<std::filesystem::path> admins;  // node directories: key.pem, cert.pem, ca.pem
  std::filesystem::path publisher;
  size_t admin_threshold = 1;
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

}  // namespace vigil::peer
