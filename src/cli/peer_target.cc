#include "cli/peer_target.h"

#include <charconv>

#include "peer/cluster.h"
#include "pki/pki.h"

namespace vigil::cli {

void AddPeerTargetOptions(CLI::App& command, PeerTarget& target) {
  command.add_option("--cluster", target.cluster,
                     "A `vigil cluster up` directory (default: $VIGIL_CLUSTER)")
      ->envname("VIGIL_CLUSTER");
  command.add_option("--peer", target.peer, "The peer's address, host:port");
  command.add_option("--as", target.as,
                     "Node directory (key.pem, cert.pem, ca.pem) to authenticate with");
}

Expected<std::unique_ptr<api::ApiClient>> ConnectToPeer(const PeerTarget& target) {
  std::string host;
  uint16_t port = 0;
  std::filesystem::path as = target.as;
  if (!target.cluster.empty()) {
    VIGIL_ASSIGN_OR_RETURN(peer::Cluster cluster, peer::ReadCluster(target.cluster));
    if (as.empty() && !cluster.admins.empty()) as = cluster.admins.front();
    if (target.peer.empty()) {
      for (size_t i = 0; i < cluster.peers.size(); ++i) {
        if (peer::RunningPeer(cluster, i)) {
          host = cluster.peers[i].host;
          port = cluster.peers[i].port;
          break;
        }
      }
      if (port == 0) {
        return Fail(ErrorCode::kUnavailable, "no peer of the cluster at " + target.cluster +
                                                 " is running (`vigil cluster up --dir " +
                                                 target.cluster + "`)");
      }
    }
  }
  if (!target.peer.empty()) {
    size_t colon = target.peer.rfind(':');
    std::string_view port_text =
        colon == std::string::npos ? std::string_view() : std::string_view(target.peer).substr(colon + 1);
    auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (colon == std::string::npos || error != std::errc() ||
        end != port_text.data() + port_text.size() || port == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--peer must be host:port, not '" + target.peer + "'");
    }
    host = target.peer.substr(0, colon);
  }
  if (port == 0) {
    return Fail(ErrorCode::kInvalidArgument, "which peer? pass --peer HOST:PORT or --cluster DIR");
  }
  if (as.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "as whom? pass --as DIR (a node directory with an admin, publisher or gateway "
                "certificate) or --cluster DIR");
  }
  VIGIL_ASSIGN_OR_RETURN(pki::NodeCredentials credentials, pki::LoadNodeDirectory(as));
  return api::ApiClient::Connect(credentials, host, port, std::chrono::milliseconds(5000));
}

}  // namespace vigil::cli
