#include "ledger/semver.h"

#include <algorithm>

#include "common/limits.h"

namespace vigil::ledger {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentifierChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}
bool IsNumeric(std::string_view identifier) {
  return std::all_of(identifier.begin(), identifier.end(), IsDigit);
}

std::unexpected<Error> Invalid(std::string_view text, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument, "\"" + std::string(text) +
                                               "\" is not a semantic version (MAJOR.MINOR.PATCH, " +
                                               "e.g. 2.4.0 or 2.4.0-rc.1): " + std::string(why));
}

// A numeric identifier: digits only, no leading zero unless it is "0", fits in u64.
Expected<uint64_t> ParseNumber(std::string_view text, std::string_view part,
                               std::string_view name) {
  if (part.empty()) return Invalid(text, std::string(name) + " is empty");
  if (!IsNumeric(part)) return Invalid(text, std::string(name) + " is not a number");
  if (part.size() > 1 && part[0] == '0') {
    return Invalid(text, std::string(name) + " has a leading zero");
  }
  uint64_t value = 0;
  for (char c : part) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return Invalid(text, std::string(name) + " is larger than 2^64-1");
    }
    value = value * 10 + digit;
  }
  return value;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (true) {
    size_t end = text.find(separator, begin);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(begin));
      return parts;
    }
    parts.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
}

Status CheckIdentifiers(std::string_view text, std::string_view section,
                        const std::vector<std::string_view>& identifiers, bool numeric_strict) {
  for (std::string_view identifier : identifiers) {
    if (identifier.empty()) return Invalid(text, std::string(section) + " has an empty identifier");
    if (!std::all_of(identifier.begin(), identifier.end(), IsIdentifierChar)) {
      return Invalid(text, std::string(section) + " identifier \"" + std::string(identifier) +
                               "\" has a character outside [0-9A-Za-z-]");
    }
    if (numeric_strict && IsNumeric(identifier) && identifier.size() > 1 && identifier[0] == '0') {
      return Invalid(text, std::string(section) + " identifier \"" + std::string(identifier) +
                               "\" has a leading zero");
    }
  }
  return Ok();
}

// Numeric identifiers compare numerically: without leading zeros, a longer one is larger.
std::strong_ordering CompareIdentifiers(const std::string& left, const std::string& right) {
  bool left_numeric = IsNumeric(left);
  bool right_numeric = IsNumeric(right);
  if (left_numeric && right_numeric) {
    if (left.size() != right.size()) return left.size() <=> right.size();
    return left.compare(right) <=> 0;
  }
  if (left_numeric) return std::strong_ordering::less;
  if (right_numeric) return std::strong_ordering::greater;
  return left.compare(right) <=> 0;
}

}  // namespace

Expected<SemanticVersion> SemanticVersion::Parse(std::string_view text) {
  if (text.empty()) return Invalid(text, "it is empty");
  if (text.size() > limits::kLedgerVersionBytesMax) {
    return Invalid(
        text.substr(0, 16),
        "it is longer than " + std::to_string(limits::kLedgerVersionBytesMax) + " bytes");
  }
  SemanticVersion version;
  version.text_ = std::string(text);
  std::string_view rest = text;
  if (size_t plus = rest.find('+'); plus != std::string_view::npos) {
    std::string_view build = rest.substr(plus + 1);
    VIGIL_RETURN_IF_ERROR(CheckIdentifiers(text, "build metadata", Split(build, '.'), false));
    version.build_ = std::string(build);
    rest = rest.substr(0, plus);
  }
  if (size_t dash = rest.find('-'); dash != std::string_view::npos) {
    std::vector<std::string_view> identifiers = Split(rest.substr(dash + 1), '.');
    VIGIL_RETURN_IF_ERROR(CheckIdentifiers(text, "pre-release", identifiers, true));
    for (std::string_view identifier : identifiers) {
      version.pre_release_.emplace_back(identifier);
    }
    rest = rest.substr(0, dash);
  }
  std::vector<std::string_view> core = Split(rest, '.');
  if (core.size() != 3) return Invalid(text, "it needs exactly three numbers");
  VIGIL_ASSIGN_OR_RETURN(version.major_, ParseNumber(text, core[0], "MAJOR"));
  VIGIL_ASSIGN_OR_RETURN(version.minor_, ParseNumber(text, core[1], "MINOR"));
  VIGIL_ASSIGN_OR_RETURN(version.patch_, ParseNumber(text, core[2], "PATCH"));
  return version;
}

std::strong_ordering SemanticVersion::ComparePrecedence(const SemanticVersion& other) const {
  if (auto order = major_ <=> other.major_; order != 0) return order;
  if (auto order = minor_ <=> other.minor_; order != 0) return order;
  if (auto order = patch_ <=> other.patch_; order != 0) return order;
  // A release is newer than any of its pre-releases (§11.3).
  if (pre_release_.empty() || other.pre_release_.empty()) {
    return pre_release_.empty() <=> other.pre_release_.empty();
  }
  size_t shared = std::min(pre_release_.size(), other.pre_release_.size());
  for (size_t i = 0; i < shared; ++i) {
    if (auto order = CompareIdentifiers(pre_release_[i], other.pre_release_[i]); order != 0) {
      return order;
    }
  }
  return pre_release_.size() <=> other.pre_release_.size();
}

}  // namespace vigil::ledger
