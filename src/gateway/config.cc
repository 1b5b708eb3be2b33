#include "gateway/config.h"

#include "common/config_file.h"
#include "common/limits.h"
#include "gateway/mirror_fetch.h"

namespace vigil::gateway {
namespace {

Expected<GatewayConfig> FromTable(const toml::table& root, const std::filesystem::path& directory) {
  VIGIL_RETURN_IF_ERROR(
      config::RefuseUnknownKeys(root, "config",
                                {"name", "node_dir", "genesis", "peers", "listen", "cache_dir",
                                 "cache_bytes_max", "mirrors", "fetch_retry_delay_ms"}));
  VIGIL_ASSIGN_OR_RETURN(std::string name, config::RequiredString(root, "name"));
  VIGIL_ASSIGN_OR_RETURN(std::string node_dir, config::RequiredString(root, "node_dir"));
  VIGIL_ASSIGN_OR_RETURN(std::string genesis, config::RequiredString(root, "genesis"));
  VIGIL_ASSIGN_OR_RETURN(std::string listen, config::RequiredString(root, "listen"));
  VIGIL_ASSIGN_OR_RETURN(std::string cache_dir, config::OptionalString(root, "cache_dir", "cache"));

  auto credentials = pki::LoadNodeDirectory(directory / node_dir);
  if (!credentials) {
    return std::unexpected(
        credentials.error().WithContext("node_dir " + (directory / node_dir).string()));
  }
  VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, credentials->certificate.GetIdentity());
  if (identity.role != pki::Role::kGateway) {
    return Fail(ErrorCode::kInvalidArgument,
                "node_dir " + (directory / node_dir).string() + " holds a certificate of role " +
                    std::string(pki::RoleName(identity.role)) +
                    ", not gateway: issue one with `vigil pki issue --role gateway`");
  }
  auto parsed_genesis = ledger::ReadGenesisFile(directory / genesis);
  if (!parsed_genesis) {
    return std::unexpected(
        parsed_genesis.error().WithContext("genesis " + (directory / genesis).string()));
  }

  VIGIL_ASSIGN_OR_RETURN(auto peer_list,
                         config::StringList(root, "peers", limits::kConfigListEntriesMax));
  if (peer_list.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "'peers' must name at least one peer (host:port)");
  }
  std::vector<Endpoint> peers;
  for (const std::string& peer : peer_list) {
    VIGIL_ASSIGN_OR_RETURN(auto endpoint, config::ParseHostPort("peers", peer));
    peers.push_back(Endpoint{.host = endpoint.first, .port = endpoint.second});
  }
  VIGIL_ASSIGN_OR_RETURN(auto listen_at, config::ParseHostPort("listen", listen, true));
  uint64_t cache_bytes_max = 0;
  VIGIL_RETURN_IF_ERROR(
      config::ReadNumber(root, "", "cache_bytes_max", int64_t{1} << 50, cache_bytes_max));
  std::chrono::milliseconds fetch_retry_delay{2'000};
  VIGIL_RETURN_IF_ERROR(
      config::ReadMilliseconds(root, "", "fetch_retry_delay_ms", fetch_retry_delay));

  VIGIL_ASSIGN_OR_RETURN(auto mirrors,
                         config::StringList(root, "mirrors", limits::kConfigListEntriesMax));
  if (mirrors.empty()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "'mirrors' must name at least one artifact mirror (https://host:port or file:///dir)");
  }
  // file:// mirrors are relative to the configuration's directory when not absolute.
  for (std::string& mirror : mirrors) {
    constexpr std::string_view kFile = "file://";
    if (mirror.starts_with(kFile) && mirror.size() > kFile.size() && mirror[kFile.size()] != '/') {
      mirror = std::string(kFile) + (directory / mirror.substr(kFile.size())).string();
    }
  }
  VIGIL_RETURN_IF_ERROR(ValidateMirrors(mirrors));
  return GatewayConfig{.name = std::move(name),
                       .options = GatewayOptions{.credentials = std::move(*credentials),
                                                 .genesis = std::move(*parsed_genesis),
                                                 .peers = std::move(peers),
                                                 .listen_address = listen_at.first,
                                                 .port = listen_at.second,
                                                 .cache_directory = directory / cache_dir,
                                                 .cache_bytes_max = cache_bytes_max,
                                                 .fetch_retry_delay = fetch_retry_delay,
                                                 .queued_bytes_max = 0,
                                                 .test_claimed_group = std::nullopt},
                       .mirrors = std::move(mirrors),
                       .ca_file = directory / node_dir / "ca.pem"};
}

}  // namespace

Expected<GatewayConfig> ParseGatewayConfig(std::string_view text,
                                           const std::filesystem::path& directory) {
  VIGIL_ASSIGN_OR_RETURN(toml::table root, config::ParseToml(text));
  return FromTable(root, directory);
}

Expected<GatewayConfig> LoadGatewayConfig(const std::filesystem::path& path) {
  VIGIL_ASSIGN_OR_RETURN(toml::table root, config::LoadTomlFile(path));
  auto result = FromTable(root, path.parent_path());
  if (!result) return std::unexpected(result.error().WithContext(path.string()));
  return result;
}

}  // namespace vigil::gateway
