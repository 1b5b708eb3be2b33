// The canonical binary encoding: the one byte form of everything Vigil hashes or signs.
//
// Specification: docs/encoding.md. In short: fixed-width little-endian integers; bool and
// optional tags are one byte, 0 or 1; variable-length bytes and strings carry a u32 length
// prefix; vectors carry a u32 element count; fixed-size fields (digests, keys, signatures)
// are raw. There is exactly one encoding of each value, so equal values hash equally.
//
// Decoding is strict: every read names its field and its limit, truncation and over-limit
// lengths are refused before anything is allocated, non-canonical forms (a bool of 2, an
// optional tag of 7, a string that is not UTF-8) are refused, and Finish() refuses trailing
// bytes. A decoder is single-use and not thread-safe; an Encoder likewise.
//
//   Encoder encoder;
//   encoder.WriteString(release.app);
//   encoder.WriteU64(release.size_bytes);
//
//   Decoder decoder(bytes);
//   VIGIL_ASSIGN_OR_RETURN(release.app, decoder.ReadString("app", kAppNameBytesMax));
//   VIGIL_ASSIGN_OR_RETURN(release.size_bytes, decoder.ReadU64("size_bytes"));
//   VIGIL_RETURN_IF_ERROR(decoder.Finish());
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::codec {

class Encoder {
 public:
  void WriteU8(uint8_t value) { bytes_.push_back(value); }
  void WriteU16(uint16_t value) { WriteLittleEndian(value, 2); }
  void WriteU32(uint32_t value) { WriteLittleEndian(value, 4); }
  void WriteU64(uint64_t value) { WriteLittleEndian(value, 8); }
  // Two's complement, 8 bytes (timestamps may precede 1970).
  void WriteI64(int64_t value) { WriteU64(static_cast<uint64_t>(value)); }
  void WriteBool(bool value) { WriteU8(value ? 1 : 0); }

  // Raw bytes of a fixed-size field: no length prefix, the size is part of the schema.
  void WriteFixed(ByteSpan bytes) { bytes_.insert(bytes_.end(), bytes.begin(), bytes.end()); }
  // u32 length, then the bytes.
  void WriteBytes(ByteSpan bytes);
  // As WriteBytes, for `length` bytes that `fill(span)` writes in place (e.g. straight from a
  // file), saving the copy a WriteBytes of a separate buffer makes. A failed fill leaves the
  // encoder as it was and returns the error.
  template <typename Fill>
  Status WriteBytesFrom(size_t length, Fill fill) {
    VIGIL_ASSERT(length <= limits::kCodecFieldBytesMax);
    const size_t start = bytes_.size();
    WriteU32(static_cast<uint32_t>(length));
    bytes_.resize(bytes_.size() + length);
    Status filled = fill(std::span<uint8_t>(bytes_.data() + start + 4, length));
    if (!filled) bytes_.resize(start);
    return filled;
  }
  // Room for `bytes` more without reallocating (a large field then costs one copy, not two).
  void Reserve(size_t bytes) { bytes_.reserve(bytes_.size() + bytes); }
  // u32 length, then UTF-8 bytes. Asserts the string is valid UTF-8: encoding a value
  // that no decoder accepts is a programmer error.
  void WriteString(std::string_view text);

  // u32 element count, then each element written by `write_element(encoder, element)`.
  template <typename T, typename WriteElement>
  void WriteVector(const std::vector<T>& elements, WriteElement write_element) {
    VIGIL_ASSERT(elements.size() <= limits::kCodecVectorElementsMax);
    WriteU32(static_cast<uint32_t>(elements.size()));
    for (const T& element : elements) write_element(*this, element);
  }

  // Tag 0 for absent; tag 1 then the value.
  template <typename T, typename WriteValue>
  void WriteOptional(const std::optional<T>& value, WriteValue write_value) {
    WriteU8(value.has_value() ? 1 : 0);
    if (value.has_value()) write_value(*this, *value);
  }

  const Bytes& bytes() const { return bytes_; }
  Bytes Take() && { return std::move(bytes_); }

 private:
  void WriteLittleEndian(uint64_t value, int width_bytes) {
    for (int i = 0; i < width_bytes; ++i) bytes_.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
  Bytes bytes_;
};

class Decoder {
 public:
  // Inputs larger than limits::kCodecMessageBytesMax are refused by every read.
  explicit Decoder(ByteSpan input) : input_(input) {}

  Expected<uint8_t> ReadU8(std::string_view field);
  Expected<uint16_t> ReadU16(std::string_view field);
  Expected<uint32_t> ReadU32(std::string_view field);
  Expected<uint64_t> ReadU64(std::string_view field);
  Expected<int64_t> ReadI64(std::string_view field);
  // Only 0 and 1 are canonical.
  Expected<bool> ReadBool(std::string_view field);

  template <size_t N>
  Expected<std::array<uint8_t, N>> ReadFixed(std::string_view field) {
    VIGIL_ASSIGN_OR_RETURN(ByteSpan span, Take(field, N));
    std::array<uint8_t, N> result{};
    std::copy(span.begin(), span.end(), result.begin());
    return result;
  }
  // `bytes_max` is the field's own limit (at most limits::kCodecFieldBytesMax).
  Expected<Bytes> ReadBytes(std::string_view field, size_t bytes_max);
  // As ReadBytes, without the copy: the span points into the decoder's input.
  Expected<ByteSpan> ReadBytesView(std::string_view field, size_t bytes_max);
  // As ReadBytes, and the bytes must be valid UTF-8 (RFC 3629: no overlong forms, no
  // surrogates, nothing above U+10FFFF).
  Expected<std::string> ReadString(std::string_view field, size_t bytes_max);

  // `read_element(decoder)` returns Expected<T>. The count is checked against
  // `elements_max` before any element is read or memory reserved.
  template <typename ReadElement>
  auto ReadVector(std::string_view field, size_t elements_max, ReadElement read_element)
      -> Expected<std::vector<typename std::invoke_result_t<ReadElement, Decoder&>::value_type>> {
    using T = typename std::invoke_result_t<ReadElement, Decoder&>::value_type;
    VIGIL_ASSIGN_OR_RETURN(uint32_t count, ReadU32(field));
    VIGIL_RETURN_IF_ERROR(CheckCount(field, count, elements_max));
    std::vector<T> elements;
    // Every element takes at least one byte, so this reserve is bounded by the input.
    elements.reserve(std::min<size_t>(count, remaining()));
    for (uint32_t i = 0; i < count; ++i) {
      auto element = read_element(*this);
      if (!element) {
        return std::unexpected(
            element.error().WithContext(std::string(field) + "[" + std::to_string(i) + "]"));
      }
      elements.push_back(std::move(*element));
    }
    return elements;
  }

  template <typename ReadValue>
  auto ReadOptional(std::string_view field, ReadValue read_value)
      -> Expected<std::optional<typename std::invoke_result_t<ReadValue, Decoder&>::value_type>> {
    using T = typename std::invoke_result_t<ReadValue, Decoder&>::value_type;
    VIGIL_ASSIGN_OR_RETURN(uint8_t tag, ReadU8(field));
    if (tag == 0) return std::optional<T>();
    if (tag != 1) return NonCanonical(field, "optional tag " + std::to_string(tag));
    auto value = read_value(*this);
    if (!value) return std::unexpected(value.error().WithContext(std::string(field)));
    return std::optional<T>(std::move(*value));
  }

  // Succeeds only when every input byte was consumed.
  Status Finish() const;

  size_t offset() const { return offset_; }
  size_t remaining() const { return input_.size() - offset_; }

 private:
  Expected<ByteSpan> Take(std::string_view field, size_t length_bytes);
  Expected<uint64_t> ReadLittleEndian(std::string_view field, int width_bytes);
  Status CheckCount(std::string_view field, uint64_t count, size_t count_max) const;
  std::unexpected<Error> NonCanonical(std::string_view field, std::string_view what) const;

  ByteSpan input_;
  size_t offset_ = 0;
};

// True for well-formed UTF-8 as RFC 3629 defines it.
bool IsValidUtf8(std::string_view text);

// Decodes a whole message with `read(decoder)` and requires that nothing trails it.
template <typename Read>
auto DecodeExactly(ByteSpan input, Read read) -> std::invoke_result_t<Read, Decoder&> {
  Decoder decoder(input);
  auto value = read(decoder);
  if (!value) return value;
  VIGIL_RETURN_IF_ERROR(decoder.Finish());
  return value;
}

}  // namespace vigil::codec
