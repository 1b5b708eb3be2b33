// ArtifactClient: fetches artifacts from a mirror (a peer's artifact store, or any HTTP cache
// or CDN in front of one) and uploads them to a peer (docs/artifacts.md#client).
//
// Integrity never depends on the transport: every fetched byte is checked against the
// SHA-256 and size the ledger recorded, so a plain http:// cache is as safe as https:// for
// integrity (it only lacks confidentiality, which public release bundles do not need).
//
// https:// with `ca_file` trusts only that CA (the fleet CA: peers' node certificates) and does
// not check the host name (the certificate names a node, not the address it is reached at);
// https:// without `ca_file` trusts the system store and checks the host name, as for any
// public CDN.
//
// Thread-safety: free functions; concurrent calls share nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "crypto/crypto.h"

namespace vigil::artifacts {

// "https://host:port/prefix" or "http://host[:port][/prefix]". The artifact lives at
// <prefix>/v1/artifacts/sha256/<hex>.
struct MirrorUrl {
  std::string scheme;       // "https" or "http"
  std::string host;         // a name, an IPv4 address or a bracketless IPv6 address
  uint16_t port = 0;        // explicit, or 443 / 80
  std::string path_prefix;  // "" or "/prefix" (no trailing slash)
  std::string ToString() const;
  friend bool operator==(const MirrorUrl&, const MirrorUrl&) = default;
};
Expected<MirrorUrl> ParseMirrorUrl(std::string_view url);

// The request path of an artifact and of its upload status under a mirror.
std::string ArtifactPath(const MirrorUrl& url, const crypto::Sha256Digest& digest);
std::string UploadStatusPath(const MirrorUrl& url, const crypto::Sha256Digest& digest);

struct ConnectionOptions {
  // https: the only trust anchor (PEM). nullopt: the system store plus a host name check.
  std::optional<std::filesystem::path> ca_file;
  std::chrono::milliseconds connect_timeout = limits::kArtifactConnectTimeoutDefault;
  // Longest wait for any single read or write on the socket.
  std::chrono::milliseconds read_timeout = limits::kArtifactReadTimeoutDefault;
};

struct FetchOptions {
  ConnectionOptions connection;
  // The whole fetch, every attempt included.
  std::chrono::milliseconds total_timeout = limits::kArtifactFetchTimeoutDefault;
  // Attempts, each resuming from what the partial file holds; wrong bytes are not retried.
  uint32_t attempts = limits::kArtifactFetchAttemptsDefault;
  std::chrono::milliseconds retry_delay = limits::kArtifactRetryDelay;
};

struct FetchResult {
  uint64_t bytes_transferred = 0;  // received in this call (not what the partial already held)
  uint64_t resumed_from_bytes = 0;  // what the partial held when the call began
  uint32_t attempts = 0;
  std::chrono::milliseconds duration{0};
};

// Downloads the artifact into `partial_path`, resuming (Range) from the bytes already there.
// On success the file holds exactly `size_bytes` bytes whose SHA-256 is `digest`, fsynced; the
// caller moves it into place (RenameDurably). Fails with:
//   kCorruption  the mirror sent more than size_bytes, a Content-Range that does not fit, or
//                bytes with another digest; the partial is deleted (it cannot be trusted)
//   kNotFound    the mirror does not have it (404)
//   kTimeout     total_timeout passed (the partial is kept, for the next attempt or mirror)
//   kUnavailable connection failures on every attempt (the partial is kept)
Expected<FetchResult> FetchArtifact(const MirrorUrl& mirror, const crypto::Sha256Digest& digest,
                                    uint64_t size_bytes,
                                    const std::filesystem::path& partial_path,
                                    const FetchOptions& options);

struct UploadOptions {
  ConnectionOptions connection;
  size_t chunk_bytes = limits::kArtifactUploadChunkBytesDefault;
  // Tries of one chunk (connection failures, 5xx) before the upload fails; the offset is asked
  // again before each retry.
  uint32_t chunk_attempts = limits::kArtifactUploadChunkAttemptsDefault;
  std::chrono::milliseconds retry_delay = limits::kArtifactRetryDelay;
};

// Bytes the server holds and the artifact's size, after each chunk.
using UploadProgress = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

// Uploads `bundle` to the artifact store at `base_url`, authorized by `publish_envelope` (the
// signed PublishRelease transaction naming this bundle's digest and size). Asks the server
// where the upload stands (and whether it will be accepted) first, then sends the rest in
// chunks of `chunk_bytes`. Refusals come back with the server's reason:
//   kAlreadyExists     the artifact is already stored there (content-addressed: the bytes the
//                      caller wanted are there) or the release is already published
//   kUnauthenticated   no or a badly signed transaction (401)
//   kPermissionDenied  the signer is not a publisher, or the transaction names other bytes (403)
//   kResourceExhausted the bundle is larger than the store accepts (413)
//   kCorruption        the server's digest check failed (422): the file changed while uploading
//   kInvalidArgument   a malformed request (400), or an envelope too large for the header
//   kUnavailable       connection failures or 5xx beyond chunk_attempts
Status UploadArtifact(const MirrorUrl& base_url, const std::filesystem::path& bundle,
                      ByteSpan publish_envelope, const UploadProgress& progress,
                      const UploadOptions& options);

}  // namespace vigil::artifacts
