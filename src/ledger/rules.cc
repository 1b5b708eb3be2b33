#include "ledger/rules.h"

#include <array>

#include "common/limits.h"

namespace vigil::ledger {
namespace {

// DO NOT CHANGE a published row: replaying old blocks (vigil audit) must reach the same state
// hashes. A changed rule is a new version.
// Sorted by version.
constexpr std::array<Rules, 2> kRulesTable = {{
    {.version = 1,
     .block_transactions_max = limits::kLedgerBlockTransactionsMax,
     .block_bytes_max = limits::kLedgerBlockBytesMax,
     .publish_requires_newer_version = true,
     .activated_report_requires_installed = false,
     .rules_support_numerator = 2,
     .rules_support_denominator = 3},
    // v2 changes one rule: an `activated` report needs an earlier `installed` report of the
    // same release by the same device.
    {.version = 2,
     .block_transactions_max = limits::kLedgerBlockTransactionsMax,
     .block_bytes_max = limits::kLedgerBlockBytesMax,
     .publish_requires_newer_version = true,
     .activated_report_requires_installed = true,
     .rules_support_numerator = 2,
     .rules_support_denominator = 3},
}};

}  // namespace

const Rules* FindRules(uint32_t version, uint32_t version_max) {
  if (version > version_max) return nullptr;
  for (const Rules& rules : kRulesTable) {
    if (rules.version == version) return &rules;
  }
  return nullptr;
}

std::vector<uint32_t> SupportedRulesVersions(uint32_t version_max) {
  std::vector<uint32_t> versions;
  for (const Rules& rules : kRulesTable) {
    if (rules.version <= version_max) versions.push_back(rules.version);
  }
  return versions;
}

}  // namespace vigil::ledger
