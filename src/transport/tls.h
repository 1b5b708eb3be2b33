// TLS 1.3 with mutual authentication against the fleet CA (docs/transport.md).
//
// A TlsContext wraps an OpenSSL SSL_CTX built from a node's pki::NodeCredentials:
//   - TLS 1.3 only (minimum and maximum protocol version), no session tickets or resumption,
//     so every connection verifies the peer's certificate afresh;
//   - the fleet CA certificate is the only trust anchor (no system trust store);
//   - a server demands a client certificate (SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT);
//   - callbacks record what the handshake saw (the first X.509 verification error, whether
//     a ClientHello was parsed at all) so a failure is reported with its real reason:
//     "certificate expired", "certificate from another CA", "garbage bytes instead of TLS".
// After the handshake the peer's pki::Identity (public key, role, name) is read from its
// certificate and checked against the roles the endpoint accepts.
//
// Thread-safety: a TlsContext is immutable once created and may be shared by connections
// on any number of threads (OpenSSL SSL_CTX is thread-safe for creating SSL objects).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <asio/error_code.hpp>
#include <asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/error.h"
#include "pki/pki.h"
#include "transport/refusal.h"

namespace vigil::transport {

enum class TlsSide : uint8_t { kServer, kClient };

class TlsContext {
 public:
  static Expected<std::shared_ptr<TlsContext>> Create(const pki::NodeCredentials& credentials,
                                                      TlsSide side);

  asio::ssl::context& context() { return context_; }
  TlsSide side() const { return side_; }
  // Who this node is (from its own certificate), for logs.
  const pki::Identity& local_identity() const { return local_identity_; }

 private:
  TlsContext(SSL_CTX* owned, TlsSide side, pki::Identity local_identity)
      : context_(owned), side_(side), local_identity_(std::move(local_identity)) {}

  asio::ssl::context context_;
  TlsSide side_;
  pki::Identity local_identity_;
};

// What the handshake callbacks observed on one SSL object.
struct HandshakeObservations {
  bool client_hello_received = false;  // server side: a ClientHello was parsed
  int verify_error = X509_V_OK;        // the first certificate verification failure
  int verify_depth = 0;                // where in the chain it failed (0 = the peer's own)
};

// Points the TlsContext callbacks at `observations` for this SSL object; it must outlive
// the handshake.
void AttachObservations(SSL* ssl, HandshakeObservations* observations);

// Why a handshake (or, on the client, the wait for the server's verdict) failed.
// `timed_out` is set when the endpoint's own handshake deadline cancelled it.
Refusal ClassifyHandshakeFailure(const asio::error_code& error,
                                 const HandshakeObservations& observations, TlsSide local_side,
                                 bool timed_out);

// The peer's identity from its verified certificate (call after a successful handshake).
Expected<pki::Identity> PeerIdentity(SSL* ssl);

// nullopt when `identity` is acceptable to this endpoint.
std::optional<Refusal> CheckPeerIdentity(const pki::Identity& identity,
                                         std::span<const pki::Role> allowed_roles,
                                         const std::optional<std::string>& expected_name);

// "TLS_AES_256_GCM_SHA384", for logs and benchmarks.
std::string NegotiatedCipher(SSL* ssl);

// Describes an asio error, decoding OpenSSL's reason when it came from OpenSSL.
std::string DescribeAsioError(const asio::error_code& error);

}  // namespace vigil::transport
