// Starting a local cluster's processes and waiting for them: shared by `vigil cluster up` and
// `vigil demo` (and the system benchmarks), which run the same peers, gateway and agents.
#pragma once

#include <chrono>
#include <filesystem>
#include <vector>

#include "api/messages.h"
#include "common/error.h"
#include "peer/cluster.h"

namespace vigil::cli {

// Waits until every peer answers a status request, or the deadline passes.
Expected<std::vector<api::StatusResponse>> WaitForPeers(const peer::Cluster& cluster,
                                                        std::chrono::seconds wait);

// The gateway and the agents of a cluster with devices: enrolled first (so the gateway admits
// them at once), then started. Nothing to do for a cluster without devices.
Status StartPlant(const peer::Cluster& cluster, const std::filesystem::path& binary);

}  // namespace vigil::cli
