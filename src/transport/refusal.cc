#include "transport/refusal.h"

namespace vigil::transport {

std::string_view RefusalReasonName(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kNoClientCertificate:
      return "no client certificate";
    case RefusalReason::kUnknownCa:
      return "certificate from another CA";
    case RefusalReason::kCertificateExpired:
      return "certificate expired";
    case RefusalReason::kCertificateNotYetValid:
      return "certificate not yet valid";
    case RefusalReason::kCertificateInvalid:
      return "certificate invalid";
    case RefusalReason::kWrongRole:
      return "wrong role";
    case RefusalReason::kWrongName:
      return "wrong name";
    case RefusalReason::kNotTls:
      return "garbage bytes instead of TLS";
    case RefusalReason::kProtocolVersion:
      return "not TLS 1.3";
    case RefusalReason::kHandshakeFailed:
      return "handshake failed";
    case RefusalReason::kHandshakeTimeout:
      return "handshake timeout";
    case RefusalReason::kTooManyConnections:
      return "too many connections";
    case RefusalReason::kOversizeFrame:
      return "oversize frame";
    case RefusalReason::kInvalidFrame:
      return "invalid frame";
    case RefusalReason::kIdleTimeout:
      return "idle timeout";
    case RefusalReason::kRefusedByPeer:
      return "refused by peer";
  }
  return "unknown";
}

ErrorCode RefusalErrorCode(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kNoClientCertificate:
    case RefusalReason::kUnknownCa:
    case RefusalReason::kCertificateExpired:
    case RefusalReason::kCertificateNotYetValid:
    case RefusalReason::kCertificateInvalid:
      return ErrorCode::kUnauthenticated;
    case RefusalReason::kWrongRole:
    case RefusalReason::kWrongName:
    case RefusalReason::kRefusedByPeer:
      return ErrorCode::kRefused;
    case RefusalReason::kNotTls:
    case RefusalReason::kProtocolVersion:
    case RefusalReason::kInvalidFrame:
      return ErrorCode::kCorruption;
    case RefusalReason::kHandshakeFailed:
      return ErrorCode::kUnavailable;
    case RefusalReason::kHandshakeTimeout:
    case RefusalReason::kIdleTimeout:
      return ErrorCode::kTimeout;
    case RefusalReason::kTooManyConnections:
    case RefusalReason::kOversizeFrame:
      return ErrorCode::kResourceExhausted;
  }
  return ErrorCode::kInternal;
}

std::string Refusal::Describe() const {
  std::string text(RefusalReasonName(reason));
  if (!detail.empty()) {
    text += ": ";
    text += detail;
  }
  return text;
}

Error Refusal::ToError() const { return Error(RefusalErrorCode(reason), Describe()); }

uint64_t EndpointStats::refused_total() const {
  uint64_t total = 0;
  for (const auto& count : refusals) total += count.load(std::memory_order_relaxed);
  return total;
}

std::string EndpointStats::DescribeRefusals() const {
  std::string text;
  for (size_t index = 0; index < kRefusalReasonCount; ++index) {
    uint64_t count = refusals[index].load(std::memory_order_relaxed);
    if (count == 0) continue;
    if (!text.empty()) text += ' ';
    text += RefusalReasonName(static_cast<RefusalReason>(index));
    text += '=';
    text += std::to_string(count);
  }
  return text.empty() ? "none" : text;
}

}  // namespace vigil::transport
