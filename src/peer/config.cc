#include "peer/config.h"


#include "common/config_file.h"
#include "common/file.h"
#include "common/limits.h"

namespace vigil::peer {
namespace {

using config::ReadMilliseconds;
using config::ReadNumber;
using config::RefuseUnknownKeys;
using config::RequiredString;

}  // namespace

Expected<PeerOptions> ParsePeerConfig(std::string_view text, const std::filesystem::path& directory) {
  VIGIL_ASSIGN_OR_RETURN(toml::table root, config::ParseToml(text));
  VIGIL_RETURN_IF_ERROR(RefuseUnknownKeys(
      root, "config",
      {"name", "data_dir", "genesis", "node_dir", "listen", "empty_block_interval_ms", "sync",
       "block_transactions_max", "verify_threads", "artifacts_listen", "artifacts_dir",
       "consensus", "mempool"}));
  PeerOptions options;
  VIGIL_ASSIGN_OR_RETURN(options.name, RequiredString(root, "name"));
  VIGIL_ASSIGN_OR_RETURN(std::string data_dir, RequiredString(root, "data_dir"));
  VIGIL_ASSIGN_OR_RETURN(std::string genesis, RequiredString(root, "genesis"));
  VIGIL_ASSIGN_OR_RETURN(std::string node_dir, RequiredString(root, "node_dir"));
  VIGIL_ASSIGN_OR_RETURN(std::string listen, RequiredString(root, "listen"));
  options.data_directory = directory / data_dir;

  auto genesis_path = directory / genesis;
  auto parsed_genesis = ledger::ReadGenesisFile(genesis_path);
  if (!parsed_genesis) {
    return std::unexpected(parsed_genesis.error().WithContext("genesis " + genesis_path.string()));
  }
  options.genesis = std::move(*parsed_genesis);
  auto credentials = pki::LoadNodeDirectory(directory / node_dir);
  if (!credentials) {
    return std::unexpected(
        credentials.error().WithContext("node_dir " + (directory / node_dir).string()));
  }
  options.credentials = std::move(*credentials);

  VIGIL_ASSIGN_OR_RETURN(auto listen_at, config::ParseHostPort("listen", listen));
  options.listen_address = listen_at.first;
  options.port = listen_at.second;
  if (root.get("artifacts_listen") != nullptr) {
    VIGIL_ASSIGN_OR_RETURN(std::string artifacts_listen, RequiredString(root, "artifacts_listen"));
    VIGIL_ASSIGN_OR_RETURN(auto artifacts_at, config::ParseHostPort("artifacts_listen", artifacts_listen));
    options.artifacts_listen_address = artifacts_at.first;
    options.artifacts_port = artifacts_at.second;
    options.artifacts_enabled = true;
    options.artifacts_directory = options.data_directory / "artifacts";
  }
  if (root.get("artifacts_dir") != nullptr) {
    VIGIL_ASSIGN_OR_RETURN(std::string artifacts_dir, RequiredString(root, "artifacts_dir"));
    options.artifacts_directory = directory / artifacts_dir;
  }

  VIGIL_RETURN_IF_ERROR(ReadMilliseconds(root, "", "empty_block_interval_ms",
                                         options.empty_block_interval));
  VIGIL_RETURN_IF_ERROR(ReadNumber(root, "", "block_transactions_max",
                                   static_cast<int64_t>(limits::kLedgerBlockTransactionsMax),
                                   options.block_transactions_max));
  VIGIL_RETURN_IF_ERROR(ReadNumber(root, "", "verify_threads", 64, options.verify_threads));
  if (const auto* sync = root.get("sync")) {
    auto value = sync->value<std::string>();
    if (value == "full") {
      options.synchronous = store::Synchronous::kFull;
    } else if (value == "normal") {
      options.synchronous = store::Synchronous::kNormal;
    } else {
      return Fail(ErrorCode::kInvalidArgument, "'sync' must be \"full\" or \"normal\"");
    }
  }
  if (const auto* consensus = root.get_as<toml::table>("consensus")) {
    VIGIL_RETURN_IF_ERROR(RefuseUnknownKeys(*consensus, "[consensus]",
                                            {"timeout_propose_ms", "timeout_prevote_ms",
                                             "timeout_precommit_ms", "timeout_delta_ms"}));
    VIGIL_RETURN_IF_ERROR(ReadMilliseconds(*consensus, "[consensus] ", "timeout_propose_ms",
                                           options.consensus.timeout_propose));
    VIGIL_RETURN_IF_ERROR(ReadMilliseconds(*consensus, "[consensus] ", "timeout_prevote_ms",
                                           options.consensus.timeout_prevote));
    VIGIL_RETURN_IF_ERROR(ReadMilliseconds(*consensus, "[consensus] ", "timeout_precommit_ms",
                                           options.consensus.timeout_precommit));
    VIGIL_RETURN_IF_ERROR(ReadMilliseconds(*consensus, "[consensus] ", "timeout_delta_ms",
                                           options.consensus.timeout_delta));
  }
  if (const auto* mempool = root.get_as<toml::table>("mempool")) {
    VIGIL_RETURN_IF_ERROR(
        RefuseUnknownKeys(*mempool, "[mempool]", {"transactions_max", "bytes_max"}));
    VIGIL_RETURN_IF_ERROR(ReadNumber(*mempool, "[mempool] ", "transactions_max", 10'000'000,
                                     options.mempool.transactions_max));
    VIGIL_RETURN_IF_ERROR(ReadNumber(*mempool, "[mempool] ", "bytes_max", int64_t{1} << 34,
                                     options.mempool.bytes_max));
  }
  VIGIL_ASSIGN_OR_RETURN(options.peers,
                         PeersFromGenesis(options.genesis, options.credentials->key.public_key()));
  return options;
}

Expected<PeerOptions> LoadPeerConfig(const std::filesystem::path& path) {
  VIGIL_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(path, limits::kConfigFileBytesMax));
  auto options = ParsePeerConfig(std::string_view(reinterpret_cast<const char*>(bytes.data()),
                                                  bytes.size()),
                                 path.parent_path());
  if (!options) return std::unexpected(options.error().WithContext(path.string()));
  return options;
}

}  // namespace vigil::peer
