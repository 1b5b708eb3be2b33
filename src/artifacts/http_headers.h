// The HTTP header values the artifact store parses from untrusted peers (docs/artifacts.md):
// `Range` (requests), `Content-Range` (upload chunks and 206 responses) and the base64 of the
// publish transaction. Pure functions, strict: one range only, decimal digits without signs
// or spaces inside, no overflow, bounded length (limits::kArtifactRangeHeaderBytesMax).
//
// Thread-safety: pure functions on values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/error.h"

namespace vigil::artifacts {

// An inclusive byte range [first, last] of an object, as HTTP writes it.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length_bytes() const { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// One range of a `Range: bytes=...` request, before it is resolved against a size.
struct RangeSpec {
  enum class Kind : uint8_t {
    kFromTo,  // bytes=a-b
    kFrom,    // bytes=a-
    kSuffix,  // bytes=-n (the last n bytes)
  };
  Kind kind = Kind::kFrom;
  uint64_t first = 0;          // kFromTo, kFrom
  uint64_t last = 0;           // kFromTo
  uint64_t suffix_bytes = 0;   // kSuffix
  friend bool operator==(const RangeSpec&, const RangeSpec&) = default;
};

// Parses a Range header value. Refuses (kInvalidArgument) other units, several ranges, a
// last before first, and anything that is not the grammar above.
Expected<RangeSpec> ParseRangeHeader(std::string_view value);

// The bytes of an object of `size_bytes` a range selects (a last beyond the end is clamped,
// as RFC 9110 says), or nullopt when it selects none (then the answer is 416).
std::optional<ByteRange> ResolveRange(const RangeSpec& spec, uint64_t size_bytes);

// `Content-Range: bytes a-b/total` with a <= b < total.
struct ContentRange {
  ByteRange range;
  uint64_t total_bytes = 0;
  friend bool operator==(const ContentRange&, const ContentRange&) = default;
};
Expected<ContentRange> ParseContentRange(std::string_view value);
// `Content-Range: bytes */total` on an empty PUT: "the partial already holds every byte,
// check and store it" (resuming an upload whose last chunk arrived but was not committed).
Expected<uint64_t> ParseCompletionRange(std::string_view value);
std::string FormatContentRange(const ContentRange& content_range);

// Standard base64 (RFC 4648 section 4) with padding. Decoding is strict: no whitespace, no
// missing or extra padding, no non-zero bits in the padding; `bytes_max` bounds the output.
std::string Base64Encode(ByteSpan bytes);
Expected<Bytes> Base64Decode(std::string_view text, size_t bytes_max);

// Decimal u64 without sign, spaces or leading '+'; refuses overflow and empty text.
Expected<uint64_t> ParseDecimal(std::string_view text);

}  // namespace vigil::artifacts
