#include "cli/local_cluster.h"

#include <thread>

#include "cli/peer_target.h"

namespace vigil::cli {

// Waits until every peer answers a status request, or the deadline passes.
Expected<std::vector<api::StatusResponse>> WaitForPeers(const peer::Cluster& cluster,
                                                        std::chrono::seconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  std::vector<api::StatusResponse> statuses(cluster.peers.size());
  for (size_t i = 0; i < cluster.peers.size(); ++i) {
    const auto& peer = cluster.peers[i];
    PeerTarget target{.cluster = "",
                      .peer = peer.host + ":" + std::to_string(peer.port),
                      .as = cluster.admins.front().string()};
    for (;;) {
      auto client = ConnectToPeer(target);
      if (client) {
        auto status = (*client)->Status();
        if (status) {
          statuses[i] = std::move(*status);
          break;
        }
      }
      if (!peer::RunningPeer(cluster, i)) {
        return Fail(ErrorCode::kUnavailable, peer.name + " exited; see " +
                                                 (peer.directory / "peer.log").string());
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Fail(ErrorCode::kTimeout, peer.name + " did not answer within " +
                                             std::to_string(wait.count()) + " s; see " +
                                             (peer.directory / "peer.log").string());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return statuses;
}

// The gateway and the agents of a cluster with devices: enrolled first (so the gateway admits
// them at once), then started.
Status StartPlant(const peer::Cluster& cluster, const std::filesystem::path& binary) {
  if (!cluster.gateway) return Ok();
  PeerTarget target{.cluster = cluster.directory.string(), .peer = "", .as = ""};
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(target));
  VIGIL_RETURN_IF_ERROR(peer::EnrollClusterDevices(cluster, *client));
  if (!peer::RunningClusterDaemon(*cluster.gateway)) {
    VIGIL_RETURN_IF_ERROR(peer::StartClusterDaemon(cluster, *cluster.gateway, binary));
  }
  for (const auto& device : cluster.devices) {
    if (peer::RunningClusterDaemon(device)) continue;
    VIGIL_RETURN_IF_ERROR(
        peer::StartClusterDaemon(cluster, device, binary));
  }
  return Ok();
}

}  // namespace vigil::cli
