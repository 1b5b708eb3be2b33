#include "transport/tls.h"

#include "crypto/openssl_util.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <asio/error.hpp>
#include <asio/ssl/error.hpp>

namespace vigil::transport {
namespace {

// The ex_data slot that links an SSL object to its HandshakeObservations.
int ObservationsIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

HandshakeObservations* ObservationsOf(const SSL* ssl) {
  return static_cast<HandshakeObservations*>(SSL_get_ex_data(ssl, ObservationsIndex()));
}

// Records the first failure and keeps OpenSSL's verdict: this callback observes, it never
// overrides a verification result.
int VerifyCallback(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok == 1) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  HandshakeObservations* observations = ssl != nullptr ? ObservationsOf(ssl) : nullptr;
  if (observations != nullptr && observations->verify_error == X509_V_OK) {
    observations->verify_error = X509_STORE_CTX_get_error(store);
    observations->verify_depth = X509_STORE_CTX_get_error_depth(store);
  }
  return 0;
}

int ClientHelloCallback(SSL* ssl, int* /*alert*/, void* /*argument*/) {
  if (HandshakeObservations* observations = ObservationsOf(ssl)) {
    observations->client_hello_received = true;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

Status Check(long result, std::string_view what) {
  if (result == 1) return Ok();
  return Fail(ErrorCode::kInternal,
              "building the TLS context: " + std::string(what) +
                  " failed: " + crypto::TakeOpenSslErrors());
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

bool IsPeerAlert(int reason) {
  // OpenSSL reports an alert received from the peer as SSL_AD_REASON_OFFSET + alert code.
  return reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
}

Refusal ClassifyVerifyError(int verify_error, int depth) {
  std::string detail = X509_verify_cert_error_string(verify_error);
  if (depth > 0) detail += " (at chain depth " + std::to_string(depth) + ")";
  switch (verify_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return {RefusalReason::kCertificateExpired, detail};
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return {RefusalReason::kCertificateNotYetValid, detail};
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      // A certificate signed by a CA with the same name as ours fails on the signature.
      return {RefusalReason::kUnknownCa, detail};
    default:
      return {RefusalReason::kCertificateInvalid, detail};
  }
}

}  // namespace

Expected<std::shared_ptr<TlsContext>> TlsContext::Create(const pki::NodeCredentials& credentials,
                                                         TlsSide side) {
  VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, credentials.certificate.GetIdentity());
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxDeleter> context(SSL_CTX_new(TLS_method()));
  if (!context) VIGIL_RETURN_IF_ERROR(Check(0, "SSL_CTX_new"));
  SSL_CTX* raw = context.get();
  VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_set_min_proto_version(raw, TLS1_3_VERSION), "min version"));
  VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_set_max_proto_version(raw, TLS1_3_VERSION), "max version"));
  // AES-GCM first: with AES-NI it is the fastest suite here (docs/transport.md, benchmarks).
  VIGIL_RETURN_IF_ERROR(
      Check(SSL_CTX_set_ciphersuites(
                raw, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"),
            "ciphersuites"));
  // No resumption: every session verifies the certificate (and its dates) afresh.
  SSL_CTX_set_options(raw, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  (void)SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_set_num_tickets(raw, 0), "SSL_CTX_set_num_tickets"));

  VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_use_certificate(raw, credentials.certificate.x509()),
                              "loading the node certificate"));
  VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_use_PrivateKey(raw, credentials.key.evp_pkey()),
                              "loading the node private key"));
  if (SSL_CTX_check_private_key(raw) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "the node's private key does not match its certificate (name " + identity.name +
                    "); reissue the certificate for this key");
  }
  // The fleet CA is the only trust anchor.
  X509_STORE* store = SSL_CTX_get_cert_store(raw);
  VIGIL_RETURN_IF_ERROR(
      Check(X509_STORE_add_cert(store, credentials.ca_certificate.x509()), "adding the CA"));
  SSL_CTX_set_verify_depth(raw, 2);  // leaf -> fleet CA; Vigil issues no intermediates

  if (side == TlsSide::kServer) {
    VIGIL_RETURN_IF_ERROR(Check(SSL_CTX_add_client_CA(raw, credentials.ca_certificate.x509()),
                                "naming the CA in CertificateRequest"));
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyCallback);
    SSL_CTX_set_client_hello_cb(raw, ClientHelloCallback, nullptr);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, VerifyCallback);
  }
  ObservationsIndex();  // allocate the ex_data slot before any connection races for it
  return std::shared_ptr<TlsContext>(new TlsContext(context.release(), side, std::move(identity)));
}

void AttachObservations(SSL* ssl, HandshakeObservations* observations) {
  SSL_set_ex_data(ssl, ObservationsIndex(), observations);
}

std::string DescribeAsioError(const asio::error_code& error) {
  if (error.category() == asio::error::get_ssl_category()) {
    auto code = static_cast<unsigned long>(error.value());
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) return reason;
  }
  return error.message();
}

Refusal ClassifyHandshakeFailure(const asio::error_code& error,
                                 const HandshakeObservations& observations, TlsSide local_side,
                                 bool timed_out) {
  if (timed_out) {
    return {RefusalReason::kHandshakeTimeout,
            observations.client_hello_received || local_side == TlsSide::kClient
                ? "handshake not finished before the deadline"
                : "no complete ClientHello before the deadline (slow or silent peer)"};
  }
  if (observations.verify_error != X509_V_OK) {
    Refusal refusal = ClassifyVerifyError(observations.verify_error, observations.verify_depth);
    if (local_side == TlsSide::kClient) refusal.detail = "server " + refusal.detail;
    return refusal;
  }
  const std::string described = DescribeAsioError(error);
  if (error.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(error.value()));
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
      return {RefusalReason::kNoClientCertificate, described};
    }
    if (local_side == TlsSide::kServer && !observations.client_hello_received) {
      return {RefusalReason::kNotTls, described};
    }
    if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
        reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_WRONG_VERSION_NUMBER) {
      return {RefusalReason::kProtocolVersion, described};
    }
    if (local_side == TlsSide::kClient && IsPeerAlert(reason)) {
      return {RefusalReason::kRefusedByPeer, "server sent alert: " + described};
    }
    return {RefusalReason::kHandshakeFailed, described};
  }
  if (local_side == TlsSide::kServer && !observations.client_hello_received &&
      (error == asio::error::eof || error == asio::ssl::error::stream_truncated ||
       error == asio::error::connection_reset)) {
    return {RefusalReason::kHandshakeFailed, "peer hung up before sending a ClientHello"};
  }
  return {RefusalReason::kHandshakeFailed, described};
}

Expected<pki::Identity> PeerIdentity(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) {
    return Fail(ErrorCode::kUnauthenticated, "the peer presented no certificate");
  }
  VIGIL_ASSIGN_OR_RETURN(pki::Certificate certificate, pki::Certificate::FromX509(peer));
  return certificate.GetIdentity();
}

std::optional<Refusal> CheckPeerIdentity(const pki::Identity& identity,
                                         std::span<const pki::Role> allowed_roles,
                                         const std::optional<std::string>& expected_name) {
  if (std::find(allowed_roles.begin(), allowed_roles.end(), identity.role) == allowed_roles.end()) {
    std::string allowed;
    for (pki::Role role : allowed_roles) {
      if (!allowed.empty()) allowed += ", ";
      allowed += pki::RoleName(role);
    }
    return Refusal{RefusalReason::kWrongRole, "role " + std::string(pki::RoleName(identity.role)) +
                                                  " (name " + identity.name +
                                                  ") not allowed on this endpoint (allowed: " +
                                                  (allowed.empty() ? "none" : allowed) + ")"};
  }
  if (expected_name && identity.name != *expected_name) {
    return Refusal{RefusalReason::kWrongName,
                   "peer is named " + identity.name + ", expected " + *expected_name};
  }
  return std::nullopt;
}

std::string NegotiatedCipher(SSL* ssl) {
  const char* name = SSL_get_cipher_name(ssl);
  return name != nullptr ? name : "none";
}

}  // namespace vigil::transport
