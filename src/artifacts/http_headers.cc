#include "artifacts/http_headers.h"

#include <array>
#include <limits>

#include "common/limits.h"

namespace vigil::artifacts {
namespace {

Status CheckLength(std::string_view what, std::string_view value) {
  if (value.size() > limits::kArtifactRangeHeaderBytesMax) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is longer than " +
                    std::to_string(limits::kArtifactRangeHeaderBytesMax) + " bytes");
  }
  return Ok();
}

std::unexpected<Error> Malformed(std::string_view what, std::string_view value) {
  return Fail(ErrorCode::kInvalidArgument,
              std::string(what) + " '" + std::string(value) + "' is malformed");
}

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63, or 255 for a byte outside the alphabet.
constexpr std::array<uint8_t, 256> MakeBase64Table() {
  std::array<uint8_t, 256> table{};
  table.fill(255);
  for (size_t i = 0; i < kBase64Alphabet.size(); ++i) {
    table[static_cast<uint8_t>(kBase64Alphabet[i])] = static_cast<uint8_t>(i);
  }
  return table;
}
constexpr std::array<uint8_t, 256> kBase64Table = MakeBase64Table();

}  // namespace

Expected<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return Malformed("number", text);
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Malformed("number", text);
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return Malformed("number", text);
    }
    value = value * 10 + digit;
  }
  return value;
}

Expected<RangeSpec> ParseRangeHeader(std::string_view value) {
  VIGIL_RETURN_IF_ERROR(CheckLength("Range", value));
  constexpr std::string_view kPrefix = "bytes=";
  if (!value.starts_with(kPrefix)) return Malformed("Range", value);
  std::string_view spec = value.substr(kPrefix.size());
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos) {
    return Malformed("Range (one range only)", value);
  }
  std::string_view first_text = spec.substr(0, dash);
  std::string_view last_text = spec.substr(dash + 1);
  if (first_text.empty()) {
    auto suffix = ParseDecimal(last_text);
    if (!suffix) return Malformed("Range", value);
    return RangeSpec{.kind = RangeSpec::Kind::kSuffix, .first = 0, .last = 0,
                     .suffix_bytes = *suffix};
  }
  auto first = ParseDecimal(first_text);
  if (!first) return Malformed("Range", value);
  if (last_text.empty()) {
    return RangeSpec{.kind = RangeSpec::Kind::kFrom, .first = *first, .last = 0,
                     .suffix_bytes = 0};
  }
  auto last = ParseDecimal(last_text);
  if (!last || *last < *first) return Malformed("Range", value);
  return RangeSpec{.kind = RangeSpec::Kind::kFromTo, .first = *first, .last = *last,
                   .suffix_bytes = 0};
}

std::optional<ByteRange> ResolveRange(const RangeSpec& spec, uint64_t size_bytes) {
  if (size_bytes == 0) return std::nullopt;
  switch (spec.kind) {
    case RangeSpec::Kind::kSuffix:
      if (spec.suffix_bytes == 0) return std::nullopt;
      if (spec.suffix_bytes >= size_bytes) return ByteRange{.first = 0, .last = size_bytes - 1};
      return ByteRange{.first = size_bytes - spec.suffix_bytes, .last = size_bytes - 1};
    case RangeSpec::Kind::kFrom:
      if (spec.first >= size_bytes) return std::nullopt;
      return ByteRange{.first = spec.first, .last = size_bytes - 1};
    case RangeSpec::Kind::kFromTo:
      if (spec.first >= size_bytes) return std::nullopt;
      return ByteRange{.first = spec.first, .last = std::min(spec.last, size_bytes - 1)};
  }
  return std::nullopt;
}

Expected<ContentRange> ParseContentRange(std::string_view value) {
  VIGIL_RETURN_IF_ERROR(CheckLength("Content-Range", value));
  constexpr std::string_view kPrefix = "bytes ";
  if (!value.starts_with(kPrefix)) return Malformed("Content-Range", value);
  std::string_view rest = value.substr(kPrefix.size());
  size_t dash = rest.find('-');
  size_t slash = rest.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return Malformed("Content-Range", value);
  }
  auto first = ParseDecimal(rest.substr(0, dash));
  auto last = ParseDecimal(rest.substr(dash + 1, slash - dash - 1));
  auto total = ParseDecimal(rest.substr(slash + 1));
  if (!first || !last || !total || *last < *first || *last >= *total) {
    return Malformed("Content-Range", value);
  }
  return ContentRange{.range = ByteRange{.first = *first, .last = *last}, .total_bytes = *total};
}

Expected<uint64_t> ParseCompletionRange(std::string_view value) {
  VIGIL_RETURN_IF_ERROR(CheckLength("Content-Range", value));
  constexpr std::string_view kPrefix = "bytes */";
  if (!value.starts_with(kPrefix)) return Malformed("Content-Range", value);
  auto total = ParseDecimal(value.substr(kPrefix.size()));
  if (!total) return Malformed("Content-Range", value);
  return *total;
}

std::string FormatContentRange(const ContentRange& content_range) {
  return "bytes " + std::to_string(content_range.range.first) + "-" +
         std::to_string(content_range.range.last) + "/" +
         std::to_string(content_range.total_bytes);
}

std::string Base64Encode(ByteSpan bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    text += kBase64Alphabet[(group >> 18) & 63];
    text += kBase64Alphabet[(group >> 12) & 63];
    text += kBase64Alphabet[(group >> 6) & 63];
    text += kBase64Alphabet[group & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = uint32_t{bytes[i]} << 16;
    if (rest == 2) group |= uint32_t{bytes[i + 1]} << 8;
    text += kBase64Alphabet[(group >> 18) & 63];
    text += kBase64Alphabet[(group >> 12) & 63];
    text += rest == 2 ? kBase64Alphabet[(group >> 6) & 63] : '=';
    text += '=';
  }
  return text;
}

Expected<Bytes> Base64Decode(std::string_view text, size_t bytes_max) {
  if (text.size() % 4 != 0) {
    return Fail(ErrorCode::kInvalidArgument, "base64 length is not a multiple of 4");
  }
  if (text.size() / 4 * 3 > bytes_max + 2) {
    return Fail(ErrorCode::kInvalidArgument,
                "base64 decodes to more than " + std::to_string(bytes_max) + " bytes");
  }
  Bytes bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last_group = i + 4 == text.size();
    size_t padding = 0;
    if (last_group) padding = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      uint8_t value = 0;
      if (j >= 4 - padding) {
        value = 0;
      } else {
        value = kBase64Table[static_cast<uint8_t>(text[i + j])];
        if (value == 255) {
          return Fail(ErrorCode::kInvalidArgument, "base64 holds a character outside its alphabet");
        }
      }
      group = (group << 6) | value;
    }
    // Non-canonical encodings (bits set under the padding) are refused: one value, one text.
    if ((padding == 1 && (group & 0xff) != 0) || (padding == 2 && (group & 0xffff) != 0)) {
      return Fail(ErrorCode::kInvalidArgument, "base64 padding hides non-zero bits");
    }
    bytes.push_back(static_cast<uint8_t>(group >> 16));
    if (padding < 2) bytes.push_back(static_cast<uint8_t>(group >> 8));
    if (padding < 1) bytes.push_back(static_cast<uint8_t>(group));
  }
  if (bytes.size() > bytes_max) {
    return Fail(ErrorCode::kInvalidArgument,
                "base64 decodes to more than " + std::to_string(bytes_max) + " bytes");
  }
  return bytes;
}

}  // namespace vigil::artifacts
