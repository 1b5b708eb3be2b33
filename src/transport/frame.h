// Framing of the transport byte stream (specified in docs/transport.md).
//
// A frame is
//
//   [u32 payload length, little-endian][u16 type, little-endian][payload]
//
// Type 0 is invalid so that zero-filled garbage is refused at once; types 1..15 belong to
// the transport itself (heartbeat, close, accepted); applications use types from
// kFrameTypeApplicationFirst up.
//
// FrameParser is a pure state machine (no I/O): feed it byte chunks of any size, in any
// split, and it yields complete frames. It refuses an oversize frame from its header alone,
// before buffering any of the payload, so a peer cannot make it allocate more than the
// endpoint's maximum. After an error it stays failed.
//
// Thread-safety: a FrameParser is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::transport {

// DO NOT CHANGE the numeric values: they travel on the wire.
using FrameType = uint16_t;
inline constexpr FrameType kFrameTypeInvalid = 0;
// Empty payload. Sent by a quiet session so that the peer's idle timeout does not fire.
inline constexpr FrameType kFrameTypeHeartbeat = 1;
// Payload: UTF-8 reason (at most limits::kCloseReasonBytesMax). The sender closes next.
inline constexpr FrameType kFrameTypeClose = 2;
// Empty payload. The server's first frame: it has verified the client's certificate and
// role; the client's session is open only once this arrives.
inline constexpr FrameType kFrameTypeAccepted = 3;
// Types below this are reserved for the transport; unknown ones are refused.
inline constexpr FrameType kFrameTypeApplicationFirst = 16;

using FrameHeaderBytes = std::array<uint8_t, limits::kFrameHeaderBytes>;

FrameHeaderBytes EncodeFrameHeader(FrameType type, uint32_t payload_bytes);
// Header plus payload in one buffer (tests, fuzzing; the transport writes both pieces with
// one scatter-gather write instead).
Bytes EncodeFrame(FrameType type, ByteSpan payload);

// A complete frame. `payload` points either into the input chunk or into the parser's own
// buffer: it is valid until the next call to Next() or until the input chunk goes away.
struct FrameView {
  FrameType type = kFrameTypeInvalid;
  ByteSpan payload;
};

class FrameParser {
 public:
  // `payload_bytes_max` is the endpoint's maximum; it must not exceed
  // limits::kFramePayloadBytesMax.
  explicit FrameParser(size_t payload_bytes_max = limits::kFramePayloadBytesDefault);

  // Consumes bytes from the front of `*input` until one frame is complete (returned, with
  // `*input` advanced past it) or the input is used up (returns nullopt, everything
  // buffered). Errors: kCorruption for an invalid type, kResourceExhausted for a frame
  // larger than the maximum. Call repeatedly until it returns nullopt or an error.
  Expected<std::optional<FrameView>> Next(ByteSpan* input);

  bool failed() const { return error_.has_value(); }
  // True between frames: no partial header or payload is buffered.
  bool at_frame_boundary() const { return header_filled_ == 0; }
  // Bytes of the current partial frame held in the parser (header and payload).
  size_t buffered_bytes() const {
    return header_filled_ + (payload_returned_ ? 0 : payload_.size());
  }
  size_t payload_bytes_max() const { return payload_bytes_max_; }

 private:
  Status CheckHeader();

  size_t payload_bytes_max_;
  FrameHeaderBytes header_{};
  size_t header_filled_ = 0;
  FrameType type_ = kFrameTypeInvalid;
  size_t payload_bytes_ = 0;
  // Holds a payload that arrives split across chunks; reserved up to the announced size
  // only after the header passed its checks.
  Bytes payload_;
  // Set when a complete payload was copied into payload_; cleared on the next call.
  bool payload_returned_ = false;
  std::optional<Error> error_;
};

}  // namespace vigil::transport
