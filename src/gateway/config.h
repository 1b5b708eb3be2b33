// The gateway's configuration file (TOML), as `vigil gateway --config FILE` reads it. Paths
// are relative to the file's directory. docs/gateway.md#configuration lists every key:
//
//   name = "gateway-1"
//   node_dir = "node"                  # key.pem, cert.pem, ca.pem: `vigil pki issue --role gateway`
//   genesis = "../genesis.json"
//   peers = ["127.0.0.1:7101", "127.0.0.1:7102"]   # the peers' client API, tried in turn
//   listen = "127.0.0.1:7401"          # where devices connect (mutual TLS)
//   cache_dir = "cache"
//   cache_bytes_max = 4294967296
//   mirrors = ["https://127.0.0.1:7301", "file:///srv/vigil-artifacts"]
//   fetch_retry_delay_ms = 2000
//
// Unknown keys are refused.
//
// Thread-safety: pure functions (LoadGatewayConfig reads files).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "gateway/gateway.h"

namespace vigil::gateway {

struct GatewayConfig {
  std::string name;
  GatewayOptions options;
  std::vector<std::string> mirrors;
  std::filesystem::path ca_file;  // node_dir/ca.pem: the trust anchor for https:// mirrors
};

Expected<GatewayConfig> ParseGatewayConfig(std::string_view text,
                                           const std::filesystem::path& directory);
Expected<GatewayConfig> LoadGatewayConfig(const std::filesystem::path& path);

}  // namespace vigil::gateway
