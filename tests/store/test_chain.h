// Test helpers for the store: temporary directories and a deterministic synthetic chain whose
// every block, transaction and state write can be recomputed from its height alone, so a test
// can check a reopened store (after a crash, a refused commit, an injected fault) completely.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/bytes.h"
#include "store/block_store.h"
#include "test_support/temporary_directory.h"

namespace vigil::store::testing {

using test_support::TemporaryDirectory;

// 32 bytes derived from (label, a, b) by a fixed mixing function: distinct inputs give
// distinct outputs for every value the tests use.
Bytes Derive(std::string_view label, uint64_t a, uint64_t b = 0);

// The synthetic chain. Block h has TransactionCount(h) transactions and writes:
//   "height"              -> decimal h
//   "block/<h, 10 digits>" -> Derive("block", h); deletes "block/<h - 3>"
//   "bulk/<h % 5>/<j>"    -> BulkValue(h, j) (256 bytes) for j < kBulkKeys
// and odd heights carry consensus state "consensus at <h>".
inline constexpr uint64_t kBulkKeys = 200;
uint64_t TransactionCount(uint64_t height);
std::string BlockKey(uint64_t height);
std::string BulkKey(uint64_t residue, uint64_t index);
Bytes BulkValue(uint64_t height, uint64_t index);
BlockCommit MakeCommit(uint64_t height);

// Checks that `store` holds exactly blocks 1..last_height of the synthetic chain, with their
// transactions and the state they leave, and nothing of any later block. Returns a description
// of the first difference, or an empty string.
std::string VerifyChain(BlockStore& store, uint64_t last_height);

}  // namespace vigil::store::testing
