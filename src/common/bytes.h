// Byte buffers and fixed-size digests shared by every component.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsBytes(std::string_view text) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}
inline Bytes ToBytes(std::string_view text) {
  ByteSpan span = AsBytes(text);
  return Bytes(span.begin(), span.end());
}

// Lower-case hexadecimal, two characters a byte.
std::string ToHex(ByteSpan bytes);
// Accepts upper or lower case; refuses odd lengths and non-hex characters.
Expected<Bytes> FromHex(std::string_view hex);

// Parses exactly N bytes of hex into an array (digests, keys, signatures).
template <size_t N>
Expected<std::array<uint8_t, N>> FixedFromHex(std::string_view hex) {
  auto bytes = FromHex(hex);
  if (!bytes) return std::unexpected(bytes.error());
  if (bytes->size() != N) {
    return Fail(ErrorCode::kInvalidArgument,
                "expected " + std::to_string(N) + " bytes of hex, got " +
                    std::to_string(bytes->size()));
  }
  std::array<uint8_t, N> result{};
  std::copy(bytes->begin(), bytes->end(), result.begin());
  return result;
}

}  // namespace vigil
