#include "transport/frame.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/assert.h"

namespace vigil::transport {

FrameHeaderBytes EncodeFrameHeader(FrameType type, uint32_t payload_bytes) {
  FrameHeaderBytes header{};
  for (size_t index = 0; index < 4; ++index) {
    header[index] = static_cast<uint8_t>(payload_bytes >> (8 * index));
  }
  header[4] = static_cast<uint8_t>(type);
  header[5] = static_cast<uint8_t>(type >> 8);
  return header;
}

Bytes EncodeFrame(FrameType type, ByteSpan payload) {
  VIGIL_ASSERT(payload.size() <= limits::kFramePayloadBytesMax);
  FrameHeaderBytes header = EncodeFrameHeader(type, static_cast<uint32_t>(payload.size()));
  Bytes frame(header.begin(), header.end());
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

FrameParser::FrameParser(size_t payload_bytes_max) : payload_bytes_max_(payload_bytes_max) {
  VIGIL_ASSERT(payload_bytes_max <= limits::kFramePayloadBytesMax);
}

Status FrameParser::CheckHeader() {
  uint32_t length = 0;
  for (size_t index = 0; index < 4; ++index) {
    length |= static_cast<uint32_t>(header_[index]) << (8 * index);
  }
  type_ = static_cast<FrameType>(header_[4] | (header_[5] << 8));
  payload_bytes_ = length;
  if (type_ == kFrameTypeInvalid) {
    return Fail(ErrorCode::kCorruption,
                "frame type 0 is invalid (the peer sent garbage or speaks another protocol; "
                "frame length field was " +
                    std::to_string(length) + ")");
  }
  if (payload_bytes_ > payload_bytes_max_) {
    return Fail(ErrorCode::kResourceExhausted,
                "oversize frame: type " + std::to_string(type_) + " announces " +
                    std::to_string(payload_bytes_) + " payload bytes, the maximum on this " +
                    "endpoint is " + std::to_string(payload_bytes_max_) +
                    "; split the message or raise frame_payload_bytes_max on both ends");
  }
  return Ok();
}

Expected<std::optional<FrameView>> FrameParser::Next(ByteSpan* input) {
  if (error_) return std::unexpected(*error_);
  if (payload_returned_) {
    // The caller is done with the previous buffered payload; keep the capacity so a stream
    // of large frames does not reallocate (bounded by payload_bytes_max_).
    payload_.clear();
    payload_returned_ = false;
  }

  bool header_was_complete = header_filled_ == header_.size();
  if (!header_was_complete) {
    size_t take = std::min(header_.size() - header_filled_, input->size());
    if (take > 0) std::memcpy(header_.data() + header_filled_, input->data(), take);
    header_filled_ += take;
    *input = input->subspan(take);
    if (header_filled_ < header_.size()) return std::nullopt;
    if (Status checked = CheckHeader(); !checked) {
      error_ = checked.error();
      return std::unexpected(*error_);
    }
  }

  // Fast path: the whole payload is in this chunk, hand out a view without copying.
  if (payload_.empty() && input->size() >= payload_bytes_) {
    FrameView frame{type_, input->first(payload_bytes_)};
    *input = input->subspan(payload_bytes_);
    header_filled_ = 0;
    return frame;
  }

  if (payload_.capacity() < payload_bytes_) payload_.reserve(payload_bytes_);
  size_t take = std::min(payload_bytes_ - payload_.size(), input->size());
  payload_.insert(payload_.end(), input->begin(), input->begin() + static_cast<ptrdiff_t>(take));
  *input = input->subspan(take);
  if (payload_.size() < payload_bytes_) return std::nullopt;
  header_filled_ = 0;
  payload_returned_ = true;
  return FrameView{type_, ByteSpan(payload_)};
}

}  // namespace vigil::transport
