#include "ledger/rules.h"

#include <array>

#include "common/limits.h"

namespace vigil::ledger {
namespace {

// DO NOT CHANGE a published row: replaying old blocks (vigil audit) must reach the same state
// hashes. A changed rule is a new version.
constexpr std::array<Rules, 1> kRulesTable = {{
    {.version = 1,
     .block_transactions_max = limits::kLedgerBlockTransactionsMax,
     .block_bytes_max = limits::kLedgerBlockBytesMax,
     .publish_requires_newer_version = true},
}};

constexpr std::array<uint32_t, kRulesTable.size()> kVersions = [] {
  std::array<uint32_t, kRulesTable.size()> versions{};
  for (size_t i = 0; i < kRulesTable.size(); ++i) versions[i] = kRulesTable[i].version;
  return versions;
}();

}  // namespace

const Rules* FindRules(uint32_t version) {
  for (const Rules& rules : kRulesTable) {
    if (rules.version == version) return &rules;
  }
  return nullptr;
}

std::span<const uint32_t> SupportedRulesVersions() { return kVersions; }

}  // namespace vigil::ledger
