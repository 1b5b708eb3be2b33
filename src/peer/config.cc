#include "peer/config.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

#include "common/file.h"
#include "common/limits.h"

namespace vigil::peer {
namespace {

constexpr size_t kConfigFileBytesMax = 256 * 1024;

Status RefuseUnknownKeys(const toml::table& table, std::string_view where,
                         const std::set<std::string_view>& known) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(where) + ": unknown key '" + std::string(key.str()) + "'");
    }
  }
  return Ok();
}

Expected<std::string> RequiredString(const toml::table& table, std::string_view key) {
  const auto* node = table.get(key);
  if (node == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "missing key '" + std::string(key) + "'");
  }
  auto value = node->value<std::string>();
  if (!value || value->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a non-empty string");
  }
  return *value;
}

// An optional non-negative integer no larger than `maximum`.
Status ReadNumber(const toml::table& table, std::string_view where, std::string_view key,
                  int64_t maximum, auto& out) {
  const auto* node = table.get(key);
  if (node == nullptr) return Ok();
  auto value = node->value<int64_t>();
  if (!value || *value < 0 || *value > maximum) {
    return Fail(ErrorCode::kInvalidArgument, std::string(where) + "'" + std::string(key) +
                                                 "' must be an integer in 0.." +
                                                 std::to_string(maximum));
  }
  out = static_cast<std::remove_reference_t<decltype(out)>>(*value);
  return Ok();
}

Status ReadMilliseconds(const toml::table& table, std::string_view where, std::string_view key,
                        std::chrono::milliseconds& out) {
  int64_t value = out.count();
  VIGIL_RETURN_IF_ERROR(ReadNumber(table, where, key, 24 * 3600 * 1000, value));
  out = std::chrono::milliseconds(value);
  return Ok();
}

// "host:port" with a port in 1..65535.
Expected<std::pair<std::string, uint16_t>> ParseListen(std::string_view key,
                                                      const std::string& listen) {
  size_t colon = listen.rfind(':');
  int64_t port = 0;
  if (colon == std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(key) + "' must be host:port, not '" + listen + "'");
  }
  try {
    port = std::stoll(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port <= 0 || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "': the port of '" +
                                                 listen + "' is not 1..65535");
  }
  return std::make_pair(listen.substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace

Expected<PeerOptions> ParsePeerConfig(std::string_view text, const std::filesystem::path& directory) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << error.source().begin;
    return Fail(ErrorCode::kInvalidArgument,
                "not valid TOML at " + where.str() + ": " + std::string(error.description()));
  }
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

  VIGIL_ASSIGN_OR_RETURN(auto listen_at, ParseListen("listen", listen));
  options.listen_address = listen_at.first;
  options.port = listen_at.second;
  if (root.get("artifacts_listen") != nullptr) {
    VIGIL_ASSIGN_OR_RETURN(std::string artifacts_listen, RequiredString(root, "artifacts_listen"));
    VIGIL_ASSIGN_OR_RETURN(auto artifacts_at, ParseListen("artifacts_listen", artifacts_listen));
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
  VIGIL_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(path, kConfigFileBytesMax));
  auto options = ParsePeerConfig(std::string_view(reinterpret_cast<const char*>(bytes.data()),
                                                  bytes.size()),
                                 path.parent_path());
  if (!options) return std::unexpected(options.error().WithContext(path.string()));
  return options;
}

}  // namespace vigil::peer
