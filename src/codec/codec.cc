#include "codec/codec.h"

namespace vigil::codec {
namespace {

std::string At(size_t offset) { return " at byte " + std::to_string(offset); }

}  // namespace

void Encoder::WriteBytes(ByteSpan bytes) {
  VIGIL_ASSERT(bytes.size() <= limits::kCodecFieldBytesMax);
  WriteU32(static_cast<uint32_t>(bytes.size()));
  WriteFixed(bytes);
}

void Encoder::WriteString(std::string_view text) {
  VIGIL_ASSERT(IsValidUtf8(text));
  WriteBytes(AsBytes(text));
}

Expected<ByteSpan> Decoder::Take(std::string_view field, size_t length_bytes) {
  if (input_.size() > limits::kCodecMessageBytesMax) {
    return Fail(ErrorCode::kCorruption,
                "message of " + std::to_string(input_.size()) + " bytes exceeds the limit of " +
                    std::to_string(limits::kCodecMessageBytesMax));
  }
  if (length_bytes > remaining()) {
    return Fail(ErrorCode::kCorruption,
                "truncated input: field '" + std::string(field) + "' needs " +
                    std::to_string(length_bytes) + " bytes" + At(offset_) + " but only " +
                    std::to_string(remaining()) + " remain");
  }
  ByteSpan span = input_.subspan(offset_, length_bytes);
  offset_ += length_bytes;
  return span;
}

Expected<uint64_t> Decoder::ReadLittleEndian(std::string_view field, int width_bytes) {
  VIGIL_ASSIGN_OR_RETURN(ByteSpan span, Take(field, static_cast<size_t>(width_bytes)));
  uint64_t value = 0;
  for (int i = 0; i < width_bytes; ++i) value |= static_cast<uint64_t>(span[i]) << (8 * i);
  return value;
}

Expected<uint8_t> Decoder::ReadU8(std::string_view field) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t value, ReadLittleEndian(field, 1));
  return static_cast<uint8_t>(value);
}
Expected<uint16_t> Decoder::ReadU16(std::string_view field) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t value, ReadLittleEndian(field, 2));
  return static_cast<uint16_t>(value);
}
Expected<uint32_t> Decoder::ReadU32(std::string_view field) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t value, ReadLittleEndian(field, 4));
  return static_cast<uint32_t>(value);
}
Expected<uint64_t> Decoder::ReadU64(std::string_view field) { return ReadLittleEndian(field, 8); }
Expected<int64_t> Decoder::ReadI64(std::string_view field) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t value, ReadLittleEndian(field, 8));
  return static_cast<int64_t>(value);
}

Expected<bool> Decoder::ReadBool(std::string_view field) {
  size_t start = offset_;
  VIGIL_ASSIGN_OR_RETURN(uint8_t value, ReadU8(field));
  if (value > 1) {
    offset_ = start;
    return NonCanonical(field, "bool value " + std::to_string(value));
  }
  return value == 1;
}

Expected<Bytes> Decoder::ReadBytes(std::string_view field, size_t bytes_max) {
  VIGIL_ASSIGN_OR_RETURN(ByteSpan span, ReadBytesView(field, bytes_max));
  return Bytes(span.begin(), span.end());
}

Expected<ByteSpan> Decoder::ReadBytesView(std::string_view field, size_t bytes_max) {
  VIGIL_ASSERT(bytes_max <= limits::kCodecFieldBytesMax);
  VIGIL_ASSIGN_OR_RETURN(uint32_t length, ReadU32(field));
  if (length > bytes_max) {
    return Fail(ErrorCode::kCorruption, "field '" + std::string(field) + "' has length " +
                                            std::to_string(length) + At(offset_ - 4) +
                                            ", over its limit of " + std::to_string(bytes_max));
  }
  return Take(field, length);
}

Expected<std::string> Decoder::ReadString(std::string_view field, size_t bytes_max) {
  size_t start = offset_;
  VIGIL_ASSIGN_OR_RETURN(ByteSpan bytes, ReadBytesView(field, bytes_max));
  // Checked in place, then copied once (a short text stays inside the string, unallocated).
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!IsValidUtf8(text)) {
    offset_ = start;
    return NonCanonical(field, "string that is not valid UTF-8");
  }
  return std::string(text);
}

Status Decoder::CheckCount(std::string_view field, uint64_t count, size_t count_max) const {
  VIGIL_ASSERT(count_max <= limits::kCodecVectorElementsMax);
  if (count > count_max) {
    return Fail(ErrorCode::kCorruption, "field '" + std::string(field) + "' has " +
                                            std::to_string(count) + " elements" +
                                            At(offset_ - 4) + ", over its limit of " +
                                            std::to_string(count_max));
  }
  return Ok();
}

std::unexpected<Error> Decoder::NonCanonical(std::string_view field, std::string_view what) const {
  return Fail(ErrorCode::kCorruption, "non-canonical encoding: field '" + std::string(field) +
                                          "' holds a " + std::string(what) + At(offset_));
}

Status Decoder::Finish() const {
  if (remaining() != 0) {
    return Fail(ErrorCode::kCorruption, std::to_string(remaining()) +
                                            " trailing bytes after the message" + At(offset_));
  }
  return Ok();
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  auto byte_at = [&](size_t index) { return static_cast<uint8_t>(text[index]); };
  while (i < text.size()) {
    uint8_t lead = byte_at(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code_point = 0;
    if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code_point = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code_point = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return false;  // continuation byte as lead, or 0xf8..0xff
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      uint8_t continuation = byte_at(i + k);
      if ((continuation & 0xc0) != 0x80) return false;
      code_point = code_point << 6 | (continuation & 0x3f);
    }
    static constexpr uint32_t kSmallestForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallestForLength[length]) return false;     // overlong
    if (code_point >= 0xd800 && code_point <= 0xdfff) return false;  // surrogate
    if (code_point > 0x10ffff) return false;
    i += length;
  }
  return true;
}

}  // namespace vigil::codec
