// ArtifactServer: the artifact store over HTTPS (docs/artifacts.md has every endpoint, header
// and status code).
//
//   GET|HEAD /v1/artifacts/sha256/<hex>   the artifact; one Range (206, or 416); immutable
//                                         cache headers, so any HTTP cache or CDN may front it
//   PUT      /v1/artifacts/sha256/<hex>   a resumable upload, chunk by chunk (Content-Range),
//                                         each chunk carrying the signed publish transaction
//                                         (X-Vigil-Publish-Transaction) that `authorize` checks
//   GET      /v1/uploads/sha256/<hex>     where an upload stands (X-Vigil-Upload-Offset)
//   GET      /healthz
//
// TLS: the server certificate is the peer's node certificate from the fleet CA. No client
// certificate is asked for: downloads are public (integrity comes from the digest the ledger
// records) and uploads are authorized by the publisher's signature on the transaction, not by
// the connection. Without credentials the server speaks plain HTTP (tests, or behind a
// TLS-terminating proxy).
//
// Built on cpp-httplib 0.11 (Debian's libcpp-httplib-dev): a thread pool of `threads` workers,
// each serving one connection at a time; bodies stream from and to disk in bounded chunks.
//
// Thread-safety: Start, Stop and the destructor from one thread. `authorize` is called on the
// server's worker threads, concurrently; it must be thread-safe and must not block for long.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "artifacts/store.h"
#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "pki/pki.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace vigil::artifacts {

// Decides whether the holder of `envelope` (the signed publish transaction, as sent) may upload
// the artifact `digest` of `total_bytes`. The returned error's code picks the HTTP status:
//   kInvalidArgument → 400, kUnauthenticated → 401, kPermissionDenied / kRefused → 403,
//   kAlreadyExists → 409, kUnavailable → 503; its message becomes the response body.
using AuthorizeFunction = std::function<Status(ByteSpan envelope,
                                               const crypto::Sha256Digest& digest,
                                               uint64_t total_bytes)>;

struct ArtifactServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; port() reports it
  // The node's certificate and key (the server certificate). nullopt: plain HTTP.
  std::optional<pki::NodeCredentials> credentials;
  size_t threads = limits::kArtifactServerThreadsDefault;
  AuthorizeFunction authorize;
};

// HTTP header names (DO NOT CHANGE: clients and scripts use them).
inline constexpr const char* kTransactionHeader = "X-Vigil-Publish-Transaction";
inline constexpr const char* kUploadOffsetHeader = "X-Vigil-Upload-Offset";
// A short token naming a refusal ("already-stored", "offset-mismatch", ...), so a client
// branches on it rather than on the English sentence in the body.
inline constexpr const char* kErrorHeader = "X-Vigil-Error";

class ArtifactServer {
 public:
  static Expected<std::unique_ptr<ArtifactServer>> Start(std::shared_ptr<ArtifactStore> store,
                                                         ArtifactServerOptions options);
  ~ArtifactServer();
  ArtifactServer(const ArtifactServer&) = delete;
  ArtifactServer& operator=(const ArtifactServer&) = delete;

  // Stops accepting, waits for the listener thread. Idempotent.
  void Stop();
  uint16_t port() const { return port_; }
  bool tls() const { return options_.credentials.has_value(); }

 private:
  ArtifactServer(std::shared_ptr<ArtifactStore> store, ArtifactServerOptions options);
  Status Listen();
  void Route();

  std::shared_ptr<ArtifactStore> store_;
  ArtifactServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace vigil::artifacts
