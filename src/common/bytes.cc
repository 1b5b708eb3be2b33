#include "common/bytes.h"

namespace vigil {
namespace {

int HexValue(char character) {
  if (character >= '0' && character <= '9') return character - '0';
  if (character >= 'a' && character <= 'f') return character - 'a' + 10;
  if (character >= 'A' && character <= 'F') return character - 'A' + 10;
  return -1;
}

}  // namespace

std::string ToHex(ByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.resize(bytes.size() * 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return hex;
}

Expected<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "hex string has odd length " + std::to_string(hex.size()));
  }
  Bytes bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    int high = HexValue(hex[2 * i]);
    int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "hex string has a non-hex character at offset " + std::to_string(2 * i));
    }
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return bytes;
}

}  // namespace vigil
