// Where a gateway fetches bundles from: a list of artifact mirrors, tried in order.
//
//   file:///srv/vigil-artifacts   a directory holding bundles named by their SHA-256 (a USB
//                                 stick or a share in a plant without a route to the peers)
//   https://host:port             a peer's artifact store (its certificate from the fleet CA)
//   http://cache:port/prefix      any HTTP cache or CDN in front of one (integrity comes from
//                                 the digest the ledger recorded, not from the transport)
//
// A mirror that fails, serves more bytes than the ledger's size, or serves bytes with another
// digest is skipped and the next one tried; the error when all fail names each mirror and
// why. The gateway checks size and digest again before caching (BundleCache::Insert).
//
// Thread-safety: the returned function may run on any one thread at a time.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gateway/gateway.h"

namespace vigil::gateway {

// Checks the mirror list (schemes, paths) up front, so a typo fails at start-up.
Status ValidateMirrors(const std::vector<std::string>& mirrors);

struct MirrorFetchOptions {
  // The only trust anchor for https:// mirrors (the fleet CA, ca.pem of the gateway's node
  // directory); nullopt trusts the system store and checks host names (a public CDN).
  std::optional<std::filesystem::path> ca_file;
};

FetchFunction MakeMirrorFetch(std::vector<std::string> mirrors, MirrorFetchOptions options = {});

// One mirror of the file:// kind: copies DIR/<hex digest> to `destination`, refusing a file
// larger than the release's size (read stops one byte past it).
Status FetchFromDirectory(const std::filesystem::path& directory,
                          const delivery::VerifiedRelease& release,
                          const std::filesystem::path& destination);

}  // namespace vigil::gateway
