// Rules versions: the contract rules a block executes under (seed 002: "the version of the
// contract-execution software").
//
// Every version this peer can execute is compiled in. The state records the effective version
// and, later, a scheduled switch to another at a block height (RulesRecord); the header names
// the version it executed under, so all replicas change at the same block. A peer asked to
// execute a version it does not have refuses with kUnavailable, which the daemon treats as
// "halt until upgraded" (seed 002: a replica lacking the effective version halts and resumes
// once it is installed).
//
// Adding v2: add a row to the table in rules.cc with the rule that changes; the executor
// reads every version-dependent decision from `Rules`, never from a version number.
//
// Thread-safety: the table is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vigil::ledger {

struct Rules {
  uint32_t version = 0;
  size_t block_transactions_max = 0;
  size_t block_bytes_max = 0;
  // A release must be strictly newer (SemVer precedence) than its app's latest (seed 001).
  bool publish_requires_newer_version = true;
};

// Null when this peer does not implement `version`.
const Rules* FindRules(uint32_t version);
// Sorted ascending: what this peer reports in its peer-report transactions.
std::span<const uint32_t> SupportedRulesVersions();

}  // namespace vigil::ledger
