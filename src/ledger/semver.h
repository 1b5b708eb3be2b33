// Semantic versions (SemVer 2.0.0, https://semver.org): parsing and precedence.
//
// The ledger refuses a release whose version is not newer than its app's latest (seed 001,
// §4.1.2), so precedence must be exact and identical on every peer: MAJOR.MINOR.PATCH compare
// numerically; a version with a pre-release ("1.0.0-rc.1") precedes the same version without
// one; pre-release identifiers compare left to right, numeric ones numerically, alphanumeric
// ones in ASCII order, numeric before alphanumeric, and a shorter list first when all shared
// identifiers are equal (§11). Build metadata ("+sha.5114f85") is ignored by precedence, so
// "1.0.0+a" and "1.0.0+b" are equally new (and the second is refused as not newer).
//
// Parsing is strict: no leading "v", no leading zeros in numeric identifiers, no empty
// identifiers, only [0-9A-Za-z-] inside identifiers, components at most 2^64-1, and at most
// limits::kLedgerVersionBytesMax bytes.
//
// Thread-safety: a plain value type.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil::ledger {

class SemanticVersion {
 public:
  static Expected<SemanticVersion> Parse(std::string_view text);

  uint64_t major() const { return major_; }
  uint64_t minor() const { return minor_; }
  uint64_t patch() const { return patch_; }
  const std::vector<std::string>& pre_release() const { return pre_release_; }
  const std::string& build() const { return build_; }
  // The text it was parsed from (parsing is strict, so this is also its canonical form).
  const std::string& text() const { return text_; }

  // SemVer precedence (§11): build metadata does not take part.
  std::strong_ordering ComparePrecedence(const SemanticVersion& other) const;
  bool IsNewerThan(const SemanticVersion& other) const {
    return ComparePrecedence(other) == std::strong_ordering::greater;
  }

 private:
  uint64_t major_ = 0;
  uint64_t minor_ = 0;
  uint64_t patch_ = 0;
  std::vector<std::string> pre_release_;
  std::string build_;
  std::string text_;
};

}  // namespace vigil::ledger
