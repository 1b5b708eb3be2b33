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
#include <climits>
#include <span>
#include <vector>

namespace vigil::ledger {

struct Rules {
  uint32_t version = 0;
  size_t block_transactions_max = 0;
  size_t block_bytes_max = 0;
  // A release must be strictly newer (SemVer precedence) than its app's latest (seed 001).
  bool publish_requires_newer_version = true;
  // v2: a device may report `activated` only for a version it reported `installed` before
  // (install and activate are separate steps, seed 002). v1 accepts any published release.
  bool activated_report_requires_installed = false;
  // An activate-rules transaction needs validators with more than this fraction of the voting
  // power to have recorded support (peer report) for the version: 2/3, i.e. 2f+1 of 3f+1.
  uint32_t rules_support_numerator = 2;
  uint32_t rules_support_denominator = 3;
};

// Null when this peer does not implement `version`, or `version` > `version_max` (a peer
// started with --max-rules-version simulates an older binary that lacks the later rows).
const Rules* FindRules(uint32_t version, uint32_t version_max = UINT32_MAX);
// Sorted ascending, at most `version_max`: what this peer reports in its peer reports.
std::vector<uint32_t> SupportedRulesVersions(uint32_t version_max = UINT32_MAX);

}  // namespace vigil::ledger
