// Why the transport refused or dropped a peer, and the counters that record it.
//
// Every refusal is logged (logfmt: `transport refused peer=127.0.0.1:5123 reason=... detail=...`)
// and counted in EndpointStats under its reason, so operators can alert on it and tests can
// assert the exact reason a connection was turned away.
//
// Thread-safety: EndpointStats counters are atomics; read them from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::transport {

enum class RefusalReason : uint8_t {
  kNoClientCertificate,     // the client sent no certificate
  kUnknownCa,               // certificate from another CA (or not signed by ours)
  kCertificateExpired,      // notAfter is in the past
  kCertificateNotYetValid,  // notBefore is in the future
  kCertificateInvalid,      // any other verification failure, or an unusable identity
  kWrongRole,               // a valid certificate whose role this endpoint does not accept
  kWrongName,               // a valid certificate whose name is not the one expected
  kNotTls,                  // garbage bytes instead of a TLS ClientHello
  kProtocolVersion,         // TLS, but not 1.3
  kHandshakeFailed,         // any other TLS handshake failure (incl. peer hung up)
  kHandshakeTimeout,        // slow-loris: no complete handshake before the deadline
  kTooManyConnections,      // the server is at its connection limit
  kOversizeFrame,           // a frame header announced more than the endpoint's maximum
  kInvalidFrame,            // frame type 0, an unknown transport type, or a malformed one
  kIdleTimeout,             // nothing at all received for the idle timeout
  kRefusedByPeer,           // (client side) the server refused us; see the detail
};
inline constexpr size_t kRefusalReasonCount =
    static_cast<size_t>(RefusalReason::kRefusedByPeer) + 1;

// Stable, human-readable: "no client certificate", "certificate from another CA", ...
std::string_view RefusalReasonName(RefusalReason reason);
// The ErrorCode a refusal is reported with (kUnauthenticated, kRefused, kTimeout, ...).
ErrorCode RefusalErrorCode(RefusalReason reason);

struct Refusal {
  RefusalReason reason;
  std::string detail;  // what OpenSSL or the parser said, with the offending values
  // "certificate from another CA: unable to get local issuer certificate"
  std::string Describe() const;
  Error ToError() const;
};

struct EndpointStats {
  std::atomic<uint64_t> connections_accepted{0};  // TCP accepted (server) or connected (client)
  std::atomic<uint64_t> sessions_opened{0};       // handshake and identity checks passed
  std::atomic<uint64_t> sessions_closed{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> send_refused_queue_full{0};
  std::array<std::atomic<uint64_t>, kRefusalReasonCount> refusals{};

  uint64_t refused(RefusalReason reason) const {
    return refusals[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t refused_total() const;
  void CountRefusal(RefusalReason reason) {
    refusals[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  // "no client certificate=1 oversize frame=2" (non-zero reasons only), for test failures.
  std::string DescribeRefusals() const;
};

}  // namespace vigil::transport
