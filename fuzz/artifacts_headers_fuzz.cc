// Fuzzes the artifact store's header parsers (src/artifacts/http_headers.h): Range,
// Content-Range (with its 'bytes */N' completion form) and the base64 of the publish
// transaction. The first input byte picks the parser, the rest is the header value. Properties:
//  1. no input crashes, leaks or trips a sanitizer;
//  2. a parsed Range resolves inside any size, and a non-empty resolution lies within it;
//  3. a parsed Content-Range formats back to exactly its input (one text per range);
//  4. whatever base64 decodes re-encodes to exactly its input (strict, canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "artifacts/http_headers.h"

namespace {

namespace artifacts = vigil::artifacts;

void Require(bool condition) {
  if (!condition) std::abort();
}

void FuzzRange(std::string_view value) {
  auto spec = artifacts::ParseRangeHeader(value);
  if (!spec) return;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{1000}, UINT64_MAX}) {
    if (auto range = artifacts::ResolveRange(*spec, size)) {
      Require(range->first <= range->last && range->last < size);
    }
  }
}

void FuzzContentRange(std::string_view value) {
  if (auto range = artifacts::ParseContentRange(value)) {
    Require(range->range.first <= range->range.last && range->range.last < range->total_bytes);
    // Leading zeros parse but format without them, so compare only canonical inputs.
    std::string formatted = artifacts::FormatContentRange(*range);
    if (value.find("bytes 0") == std::string_view::npos && value.find("-0") == std::string_view::npos &&
        value.find("/0") == std::string_view::npos) {
      Require(formatted == value);
    }
  }
  (void)artifacts::ParseCompletionRange(value);
}

void FuzzBase64(std::string_view value) {
  if (auto bytes = artifacts::Base64Decode(value, 8000)) {
    Require(artifacts::Base64Encode(*bytes) == value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: FuzzRange(value); break;
    case 1: FuzzContentRange(value); break;
    default: FuzzBase64(value); break;
  }
  return 0;
}
