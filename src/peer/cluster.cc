#include "peer/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/daemon_process.h"
#include "common/file.h"
#include "crypto/crypto.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"
#include "pki/pki.h"

namespace vigil::peer {
namespace {

constexpr std::string_view kClusterFileName = "cluster.json";
constexpr uint32_t kCaCertificateDays = 3650;
constexpr uint32_t kCertificateDays = 365;
constexpr size_t kClusterFileBytesMax = 1024 * 1024;

// Whether nothing is bound to `port` on `host` right now (a bind without SO_REUSEADDR succeeds,
// so neither a listener nor a connection's local end nor a TIME_WAIT socket holds it).
Expected<bool> PortIsFree(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Fail(ErrorCode::kIOError, "socket: " + std::string(std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(host == "127.0.0.1" ? INADDR_LOOPBACK : INADDR_ANY);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  int saved = errno;
  ::close(fd);
  if (!free && saved != EADDRINUSE && saved != EACCES)
    return Fail(ErrorCode::kIOError, "cannot test port " + std::to_string(port) + ": " +
                                         std::string(std::strerror(saved)));
  return free;
}

// The ports a cluster's daemons listen on: each free when picked, none picked twice, and all
// below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range). A daemon that is
// stopped and started again must find its port still free; a port inside the ephemeral range
// can meanwhile be handed to any process's outgoing connection or port-0 server (it happened:
// another test's server took a killed peer's port, and the peer could not come back).
class PortPicker {
 public:
  explicit PortPicker(std::string host) : host_(std::move(host)) {
    uint16_t ephemeral_low = EphemeralRangeLow();
    high_ = static_cast<uint16_t>(ephemeral_low - 1);
    low_ = static_cast<uint16_t>(std::max<int>(kLowestPort, ephemeral_low - kRangeWidth));
    random_.seed(std::random_device{}() ^ static_cast<uint32_t>(::getpid()));
  }

  Expected<uint16_t> Next() {
    if (high_ <= low_) return Fail(ErrorCode::kIOError, "no port range below the ephemeral one");
    std::uniform_int_distribution<int> pick(low_, high_);
    for (int tries = 0; tries < kTries; ++tries) {
      auto port = static_cast<uint16_t>(pick(random_));
      if (picked_.contains(port)) continue;
      VIGIL_ASSIGN_OR_RETURN(bool free, PortIsFree(host_, port));
      if (!free) continue;
      picked_.insert(port);
      return port;
    }
    return Fail(ErrorCode::kIOError, "cannot find a free port between " + std::to_string(low_) +
                                         " and " + std::to_string(high_) + " after " +
                                         std::to_string(kTries) + " tries");
  }

 private:
  static constexpr int kLowestPort = 10000;
  static constexpr int kRangeWidth = 16384;
  static constexpr int kTries = 256;

  // Linux's default is 32768; a file that cannot be read or parsed means that default.
  static uint16_t EphemeralRangeLow() {
    std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 0;
    if (!(file >> low) || low <= kLowestPort || low > 65535) return 32768;
    return static_cast<uint16_t>(low);
  }

  std::string host_;
  uint16_t low_ = 0;
  uint16_t high_ = 0;
  std::mt19937 random_;
  std::set<uint16_t> picked_;
};

Status WriteText(const std::filesystem::path& path, std::string_view text) {
  return WriteFileAtomically(path, AsBytes(text), 0644);
}

std::filesystem::path PidFile(const ClusterPeer& peer) { return peer.directory / "peer.pid"; }

ClusterDaemon GatewayDaemon(const std::filesystem::path& directory, uint16_t port) {
  return ClusterDaemon{.name = "gateway",
                       .directory = directory / "gateway",
                       .config = directory / "gateway" / "gateway.toml",
                       .port = port};
}

ClusterDaemon DeviceDaemon(const std::filesystem::path& directory, const std::string& name) {
  return ClusterDaemon{.name = name,
                       .directory = directory / name,
                       .config = directory / name / "agent.toml",
                       .port = 0};
}

std::string TomlStringList(const std::vector<std::string>& items) {
  std::string list = "[";
  for (size_t i = 0; i < items.size(); ++i) list += (i ? ", \"" : "\"") + items[i] + "\"";
  return list + "]";
}

// The gateway and the devices of a cluster with `spec.devices` > 0 (see cluster.h).
template <typename Issue>
Status CreatePlant(const ClusterSpec& spec, Cluster& cluster, Issue& issue, PortPicker& ports) {
  uint16_t port = 0;
  if (spec.base_port != 0) {
    port = static_cast<uint16_t>(spec.base_port + 2 * spec.peers);
  } else {
    VIGIL_ASSIGN_OR_RETURN(port, ports.Next());
  }
  cluster.gateway = GatewayDaemon(spec.directory, port);
  cluster.device_group = spec.device_group;
  VIGIL_RETURN_IF_ERROR(issue(pki::Role::kGateway, "gateway", cluster.gateway->directory / "node"));
  std::vector<std::string> peers;
  std::vector<std::string> mirrors;
  for (const ClusterPeer& peer : cluster.peers) {
    peers.push_back(peer.host + ":" + std::to_string(peer.port));
    mirrors.push_back("https://" + peer.host + ":" + std::to_string(peer.artifacts_port));
  }
  std::string gateway_config =
      "# Written by `vigil cluster up`; see docs/gateway.md#configuration.\n"
      "name = \"gateway\"\n"
      "node_dir = \"node\"\n"
      "genesis = \"../genesis.json\"\n"
      "peers = " +
      TomlStringList(peers) +
      "\n"
      "listen = \"" +
      spec.host + ":" + std::to_string(port) +
      "\"\n"
      "cache_dir = \"cache\"\n"
      "mirrors = " +
      TomlStringList(mirrors) +
      "\n"
      "fetch_retry_delay_ms = 500\n";
  VIGIL_RETURN_IF_ERROR(WriteText(cluster.gateway->config, gateway_config));

  for (size_t i = 1; i <= spec.devices; ++i) {
    ClusterDaemon device = DeviceDaemon(spec.directory, "device-" + std::to_string(i));
    VIGIL_RETURN_IF_ERROR(issue(pki::Role::kDevice, device.name, device.directory / "node"));
    std::string agent_config =
        "# Written by `vigil cluster up`; see docs/agent.md#configuration.\n"
        "name = \"" +
        device.name +
        "\"\n"
        "node_dir = \"node\"\n"
        "genesis = \"../genesis.json\"\n"
        "gateway = \"" +
        spec.host + ":" + std::to_string(port) +
        "\"\n"
        "root = \"state\"\n"
        "apps = " +
        TomlStringList(spec.device_apps) + "\n" + "auto_activate = " +
        TomlStringList(spec.device_auto_activate ? spec.device_apps : std::vector<std::string>{}) +
        "\n";
    VIGIL_RETURN_IF_ERROR(WriteText(device.config, agent_config));
    cluster.devices.push_back(std::move(device));
  }
  return Ok();
}

}  // namespace

std::filesystem::path CurrentExecutable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path("vigil") : path;
}

Expected<Cluster> CreateCluster(const ClusterSpec& spec) {
  if (spec.peers == 0 || spec.peers > limits::kConsensusValidatorsMax) {
    return Fail(ErrorCode::kInvalidArgument,
                "--peers must be 1.." + std::to_string(limits::kConsensusValidatorsMax));
  }
  if (spec.admins == 0 || spec.admin_threshold == 0 || spec.admin_threshold > spec.admins) {
    return Fail(ErrorCode::kInvalidArgument,
                "the admin threshold must be 1.." + std::to_string(spec.admins));
  }
  std::error_code ignored;
  if (std::filesystem::exists(spec.directory / kClusterFileName, ignored)) {
    return Fail(ErrorCode::kAlreadyExists,
                (spec.directory / kClusterFileName).string() +
                    " exists: a cluster is already there (`vigil cluster down --dir " +
                    spec.directory.string() + " --purge` removes it)");
  }
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(spec.directory, 0700));
  const auto ca_directory = spec.directory / "ca";
  VIGIL_RETURN_IF_ERROR(
      pki::InitCaDirectory(ca_directory, spec.chain_id + "-ca", kCaCertificateDays));
  VIGIL_ASSIGN_OR_RETURN(pki::CaDirectory ca, pki::LoadCaDirectory(ca_directory));

  Cluster cluster;
  cluster.directory = spec.directory;
  cluster.chain_id = spec.chain_id;
  cluster.genesis = spec.directory / "genesis.json";
  cluster.admin_threshold = spec.admin_threshold;

  ledger::Genesis genesis;
  genesis.chain_id = spec.chain_id;
  genesis.genesis_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  genesis.admin_threshold = static_cast<uint32_t>(spec.admin_threshold);
  genesis.rules_version = 1;
  genesis.ca_certificate_pem = ca.certificate.ToPem();

  auto issue = [&](pki::Role role, const std::string& name,
                   const std::filesystem::path& out) -> Expected<crypto::PublicKey> {
    VIGIL_ASSIGN_OR_RETURN(
        pki::Certificate certificate,
        pki::IssueToDirectory(ca_directory, role, name, kCertificateDays, out, std::nullopt));
    VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, certificate.GetIdentity());
    return identity.public_key;
  };

  PortPicker ports(spec.host);
  for (size_t i = 1; i <= spec.peers; ++i) {
    ClusterPeer peer;
    peer.name = "peer-" + std::to_string(i);
    peer.directory = spec.directory / peer.name;
    peer.config = peer.directory / "peer.toml";
    peer.host = spec.host;
    if (spec.base_port != 0) {
      peer.port = static_cast<uint16_t>(spec.base_port + i - 1);
      // Artifact ports follow the peer ports: base .. base+peers-1, then base+peers ..
      peer.artifacts_port = static_cast<uint16_t>(spec.base_port + spec.peers + i - 1);
    } else {
      VIGIL_ASSIGN_OR_RETURN(peer.port, ports.Next());
      VIGIL_ASSIGN_OR_RETURN(peer.artifacts_port, ports.Next());
    }
    VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey key,
                           issue(pki::Role::kPeer, peer.name, peer.directory / "node"));
    genesis.validators.push_back(
        ledger::GenesisValidator{.name = peer.name,
                                 .public_key = key,
                                 .voting_power = 1,
                                 .address = peer.host + ":" + std::to_string(peer.port)});
    cluster.peers.push_back(std::move(peer));
  }
  for (size_t i = 1; i <= spec.admins; ++i) {
    std::string name = "admin-" + std::to_string(i);
    auto directory = spec.directory / name;
    VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey key, issue(pki::Role::kAdmin, name, directory));
    genesis.admins.push_back(ledger::GenesisMember{.name = name, .public_key = key});
    cluster.admins.push_back(directory);
  }
  cluster.publisher = spec.directory / "publisher";
  VIGIL_ASSIGN_OR_RETURN(crypto::PublicKey publisher_key,
                         issue(pki::Role::kPublisher, "publisher", cluster.publisher));
  genesis.publishers.push_back(
      ledger::GenesisMember{.name = "publisher", .public_key = publisher_key});
  VIGIL_ASSIGN_OR_RETURN(genesis, ledger::ValidateGenesis(std::move(genesis)));
  VIGIL_RETURN_IF_ERROR(WriteText(cluster.genesis, ledger::GenesisToJson(genesis)));

  for (const ClusterPeer& peer : cluster.peers) {
    std::string config =
        "# Written by `vigil cluster up`; see docs/peer.md#configuration.\n"
        "name = \"" +
        peer.name +
        "\"\n"
        "data_dir = \"data\"\n"
        "genesis = \"../genesis.json\"\n"
        "node_dir = \"node\"\n"
        "listen = \"" +
        peer.host + ":" + std::to_string(peer.port) +
        "\"\n"
        "artifacts_listen = \"" +
        peer.host + ":" + std::to_string(peer.artifacts_port) +
        "\"\n"
        "empty_block_interval_ms = " +
        std::to_string(spec.empty_block_interval.count()) +
        "\n"
        "sync = \"" +
        (spec.durable ? "full" : "normal") +
        "\"\n"
        "verify_threads = " +
        std::to_string(spec.verify_threads) +
        "\n"
        "\n[consensus]\n"
        "timeout_propose_ms = " +
        std::to_string(spec.timeout_propose.count()) +
        "\n"
        "timeout_prevote_ms = 500\n"
        "timeout_precommit_ms = 500\n"
        "timeout_delta_ms = 250\n";
    VIGIL_RETURN_IF_ERROR(WriteText(peer.config, config));
  }

  if (spec.devices > 0) {
    VIGIL_RETURN_IF_ERROR(CreatePlant(spec, cluster, issue, ports));
  }

  nlohmann::json description;
  description["chain_id"] = cluster.chain_id;
  description["admin_threshold"] = cluster.admin_threshold;
  description["publisher"] = "publisher";
  for (const auto& admin : cluster.admins)
    description["admins"].push_back(admin.filename().string());
  for (const auto& peer : cluster.peers) {
    description["peers"].push_back({{"name", peer.name},
                                    {"host", peer.host},
                                    {"port", peer.port},
                                    {"artifacts_port", peer.artifacts_port}});
  }
  if (cluster.gateway) {
    description["gateway"] = {{"name", cluster.gateway->name}, {"port", cluster.gateway->port}};
    description["device_group"] = cluster.device_group;
    for (const auto& device : cluster.devices) description["devices"].push_back(device.name);
  }
  VIGIL_RETURN_IF_ERROR(WriteText(spec.directory / kClusterFileName, description.dump(2) + "\n"));
  return cluster;
}

Expected<Cluster> ReadCluster(const std::filesystem::path& directory) {
  auto bytes = ReadFile(directory / kClusterFileName, kClusterFileBytesMax);
  if (!bytes) {
    return Fail(ErrorCode::kNotFound, "no cluster at " + directory.string() + " (" +
                                          bytes.error().message() +
                                          "); `vigil cluster up --dir DIR` creates one");
  }
  try {
    auto description = nlohmann::json::parse(bytes->begin(), bytes->end());
    Cluster cluster;
    cluster.directory = directory;
    cluster.chain_id = description.at("chain_id").get<std::string>();
    cluster.genesis = directory / "genesis.json";
    cluster.admin_threshold = description.at("admin_threshold").get<size_t>();
    cluster.publisher = directory / description.at("publisher").get<std::string>();
    for (const auto& admin : description.at("admins")) {
      cluster.admins.push_back(directory / admin.get<std::string>());
    }
    for (const auto& entry : description.at("peers")) {
      ClusterPeer peer;
      peer.name = entry.at("name").get<std::string>();
      peer.directory = directory / peer.name;
      peer.config = peer.directory / "peer.toml";
      peer.host = entry.at("host").get<std::string>();
      peer.port = entry.at("port").get<uint16_t>();
      // Clusters written before the artifact store have no artifacts port (0: none).
      peer.artifacts_port = entry.value("artifacts_port", uint16_t{0});
      cluster.peers.push_back(std::move(peer));
    }
    if (description.contains("gateway")) {
      const auto& gateway = description.at("gateway");
      cluster.gateway = GatewayDaemon(directory, gateway.at("port").get<uint16_t>());
      cluster.device_group = description.at("device_group").get<std::string>();
      for (const auto& name : description.at("devices")) {
        cluster.devices.push_back(DeviceDaemon(directory, name.get<std::string>()));
      }
    }
    return cluster;
  } catch (const nlohmann::json::exception& error) {
    return Fail(ErrorCode::kCorruption,
                (directory / kClusterFileName).string() + " is damaged: " + error.what());
  }
}

Expected<pid_t> StartPeer(const Cluster& cluster, size_t index,
                          const std::filesystem::path& vigil_binary,
                          const std::vector<std::string>& extra_arguments) {
  if (index >= cluster.peers.size()) {
    return Fail(ErrorCode::kInvalidArgument, "no peer " + std::to_string(index + 1));
  }
  const ClusterPeer& peer = cluster.peers[index];
  std::vector<std::string> arguments = {vigil_binary.string(), "peer", "--config",
                                        peer.config.string()};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  auto pid = StartDaemon(arguments, peer.directory / "peer.log", PidFile(peer));
  if (!pid) return std::unexpected(pid.error().WithContext("starting " + peer.name));
  return pid;
}

std::optional<pid_t> RunningPeer(const Cluster& cluster, size_t index) {
  if (index >= cluster.peers.size()) return std::nullopt;
  return RunningDaemon(PidFile(cluster.peers[index]));
}

Status StopPeer(const Cluster& cluster, size_t index, std::chrono::milliseconds grace,
                bool kill_now) {
  if (index >= cluster.peers.size()) return Ok();
  return StopDaemon(PidFile(cluster.peers[index]), grace, kill_now);
}

Expected<pid_t> StartClusterDaemon(const Cluster& cluster, const ClusterDaemon& daemon,
                                   const std::filesystem::path& vigil_binary) {
  std::string command =
      cluster.gateway && daemon.name == cluster.gateway->name ? "gateway" : "agent";
  auto pid = StartDaemon({vigil_binary.string(), command, "--config", daemon.config.string()},
                         daemon.directory / (daemon.name + ".log"),
                         daemon.directory / (daemon.name + ".pid"));
  if (!pid) return std::unexpected(pid.error().WithContext("starting " + daemon.name));
  return pid;
}

std::optional<pid_t> RunningClusterDaemon(const ClusterDaemon& daemon) {
  return RunningDaemon(daemon.directory / (daemon.name + ".pid"));
}

Status StopClusterDaemon(const ClusterDaemon& daemon, std::chrono::milliseconds grace,
                         bool kill_now) {
  return StopDaemon(daemon.directory / (daemon.name + ".pid"), grace, kill_now);
}

Status EnrollClusterDevices(const Cluster& cluster, api::ApiClient& client) {
  if (cluster.admins.size() < cluster.admin_threshold) {
    return Fail(ErrorCode::kInvalidArgument, "the cluster has fewer admins than its threshold");
  }
  std::vector<crypto::PrivateKey> admins;
  for (size_t i = 0; i < cluster.admin_threshold; ++i) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey key,
                           crypto::ReadPrivateKeyFile(cluster.admins[i] / "key.pem"));
    admins.push_back(std::move(key));
  }
  std::vector<const crypto::PrivateKey*> co_signers;
  for (size_t i = 1; i < admins.size(); ++i) co_signers.push_back(&admins[i]);
  for (const ClusterDaemon& device : cluster.devices) {
    VIGIL_ASSIGN_OR_RETURN(crypto::PrivateKey device_key,
                           crypto::ReadPrivateKeyFile(device.directory / "node" / "key.pem"));
    ledger::EnrollDevice body{
        .device_key = device_key.public_key(), .group = cluster.device_group, .labels = {}};
    // The admin's sequence is not known here: a wrong guess is answered with the right one.
    uint64_t sequence = 1;
    for (int attempt = 0;; ++attempt) {
      Bytes transaction =
          ledger::SignTransaction(cluster.chain_id, body, sequence, admins[0], co_signers);
      VIGIL_ASSIGN_OR_RETURN(api::SubmitResponse response, client.Submit(transaction, true));
      if (response.outcome == api::SubmitOutcome::kCommitted && response.result.ok()) break;
      if (response.result.code == ledger::ResultCode::kAlreadyExists) break;
      auto next = ledger::NextSequenceNamedBy(response.result);
      if (!next || attempt >= 3) {
        return Fail(ErrorCode::kRefused,
                    "enrolling " + device.name + ": " + response.result.reason);
      }
      sequence = *next;
    }
  }
  return Ok();
}

}  // namespace vigil::peer
