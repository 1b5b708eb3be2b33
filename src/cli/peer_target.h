// Which peer a client command talks to, and as whom: the options every command that uses the
// client API shares (`vigil tx`, `vigil ledger`, `vigil cluster up`'s readiness check).
//
//   --cluster DIR   a `vigil cluster up` directory: its first running peer, as admin-1
//   --peer H:P      a peer's client address (overrides the cluster's choice)
//   --as DIR        a node directory with key.pem, cert.pem, ca.pem (role admin, publisher or
//                   gateway) to authenticate with (overrides the cluster's admin-1)
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "api/client.h"
#include "common/error.h"

namespace vigil::cli {

struct PeerTarget {
  std::string cluster;
  std::string peer;
  std::string as;
};

void AddPeerTargetOptions(CLI::App& command, PeerTarget& target);
Expected<std::unique_ptr<api::ApiClient>> ConnectToPeer(const PeerTarget& target);

}  // namespace vigil::cli
