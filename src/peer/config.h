// The peer's configuration file (TOML), as `vigil peer --config FILE` reads it. Paths in it
// are relative to the file's directory. docs/peer.md#configuration lists every key:
//
//   name = "peer-1"
//   data_dir = "data"                 # the store (ledger.sqlite3) lives here
//   genesis = "../genesis.json"
//   node_dir = "node"                 # key.pem, cert.pem, ca.pem: `vigil pki issue --role peer`
//   listen = "127.0.0.1:7101"         # validators and clients; must match the genesis address
//   empty_block_interval_ms = 1000
//   sync = "full"                     # "normal": faster, may lose the last blocks on power loss
//   verify_threads = 2                # signature-verifying workers; 0: on the event loop
//   artifacts_listen = "127.0.0.1:7201"  # the artifact store over HTTPS (docs/artifacts.md);
//                                        # absent: no artifact store
//   artifacts_dir = "data/artifacts"     # default <data_dir>/artifacts
//
//   [consensus]
//   timeout_propose_ms = 3000
//   timeout_prevote_ms = 1000
//   timeout_precommit_ms = 1000
//   timeout_delta_ms = 500
//
//   [mempool]
//   transactions_max = 50000
//   bytes_max = 67108864
//
// Unknown keys are refused (a typo must not silently fall back to a default).
//
// Thread-safety: pure functions (LoadPeerConfig reads files).
#pragma once

#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "peer/node.h"

namespace vigil::peer {

// Parses `text` (the file's contents; `directory` resolves relative paths), reads the genesis
// and the node directory it names, and fills PeerOptions with the peers from the genesis.
Expected<PeerOptions> ParsePeerConfig(std::string_view text, const std::filesystem::path& directory);
Expected<PeerOptions> LoadPeerConfig(const std::filesystem::path& path);

}  // namespace vigil::peer
