// The offline audit of a peer's store: re-verify the whole chain from the genesis, trusting
// nothing the store says (docs/audit.md).
//
// From `ledger::GenesisState(genesis)`, for every stored height 1..LastHeight(): decode the
// block, check the stored block hash and the linkage, execute it with `ledger::ExecuteBlock`
// (header, the previous block's certificate, transactions root, every signature, re-execution,
// results root), compare the stored transaction index and state hash with the re-execution,
// verify the block's own stored commit certificate, and apply it. At the end the store's whole
// state table must equal the recomputed state. The store's own `CheckIntegrity` runs first.
//
//   VIGIL_ASSIGN_OR_RETURN(auto store, store::BlockStore::Open(file, {.read_only = true}));
//   VIGIL_ASSIGN_OR_RETURN(ledger::Genesis genesis, audit::ChooseGenesis(*store, std::nullopt));
//   VIGIL_ASSIGN_OR_RETURN(audit::AuditReport report, audit::AuditChain(*store, genesis, {}));
//   if (!report.ok()) ...  // report.findings: height, what, expected vs found
//
// What the audit relies on is the mapping a peer uses to store a committed block
// (docs/audit.md#what-a-peer-stores). A mismatch is a `Finding`, not an error: the audit goes
// on past the ones after which the chain can still be verified (a stored hash, a result, a
// state hash, a certificate) and stops at the first fatal one (a block that does not decode or
// that `ExecuteBlock` refuses: nothing after it can be verified). `Expected` errors are kept for
// an audit that could not run at all.
//
// I/O only through the BlockStore passed in; no clock, no threads. The caller times the run.
// Thread-safety: none; one thread per call (the BlockStore is single-threaded).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/limits.h"
#include "crypto/crypto.h"
#include "ledger/execute.h"
#include "ledger/genesis.h"
#include "store/block_store.h"

namespace vigil::audit {

// Limits of the audit. They belong with the others in common/limits.h; they live here until
// that file gets an audit section.
//
// Findings kept in a report; further ones are only counted (a tampered block with 10,000
// transactions would otherwise print 10,000 lines).
inline constexpr size_t kAuditFindingsMax = 100;
// State entries read per ScanState page when comparing the state table (≤ the store's
// kStoreScanEntriesMax; bounded so a state of large values does not fill memory at once).
inline constexpr size_t kAuditStateEntriesPerPage = 10'000;
static_assert(kAuditStateEntriesPerPage <= limits::kStoreScanEntriesMax);

// The metadata a peer writes into its store (docs/audit.md#what-a-peer-stores).
// DO NOT CHANGE: existing stores use these names.
inline constexpr std::string_view kChainIdMetadata = "chain_id";  // the chain id's bytes
inline constexpr std::string_view kGenesisMetadata = "genesis";   // ledger::GenesisToJson

struct Finding {
  // The block the finding is about; 0 for the store as a whole (integrity, metadata, the state
  // table).
  uint64_t height = 0;
  // What was checked: "block hash", "state hash", "transaction 3", "commit certificate",
  // "state table", "store integrity", ...
  std::string subject;
  // One sentence: what differs, expected (recomputed) and found (stored), hex shortened.
  std::string message;
  // The audit stopped here: nothing after this block could be verified.
  bool fatal = false;
};

struct AuditReport {
  std::string chain_id;
  crypto::Sha256Digest genesis_hash{};
  uint64_t last_height = 0;            // what the store says it holds
  uint64_t verified_height = 0;        // blocks 1..verified_height re-executed and applied
  uint64_t transactions = 0;           // in the verified blocks
  uint64_t certificates_verified = 0;  // stored commit certificates that verified
  uint64_t validators = 0;             // in the recomputed state at verified_height
  uint64_t total_voting_power = 0;
  uint64_t state_entries = 0;           // in the recomputed state
  bool integrity_check_passed = false;  // the store file's own check (CheckIntegrity)
  bool state_table_compared = false;    // false when a fatal finding stopped the audit first
  ledger::ChainTip tip;                 // the recomputed tip at verified_height
  std::vector<Finding> findings;        // at most kAuditFindingsMax, in the order found
  uint64_t findings_omitted = 0;        // found beyond kAuditFindingsMax

  bool ok() const { return findings.empty() && findings_omitted == 0; }
};

struct AuditOptions {
  // Called after each verified block with (height, last height); the command throttles it.
  std::function<void(uint64_t height, uint64_t last_height)> progress;
  // Signature checks (ExecuteBlock's and the stored certificates').
  ledger::ExecuteOptions execute;
};

// Audits `store` against `genesis`. Errors only when the audit cannot start (the store's height
// cannot be read); every mismatch is a Finding in the report.
Expected<AuditReport> AuditChain(store::BlockStore& store, const ledger::Genesis& genesis,
                                 const AuditOptions& options = {});

// The genesis to audit against. Without `given`, the store's "genesis" metadata (refused, with
// what to do, when absent or unreadable). With `given`, refused when the store names another
// genesis (hash mismatch); used as is when the store's metadata is absent or unreadable (the
// audit then reports that as a finding).
Expected<ledger::Genesis> ChooseGenesis(store::BlockStore& store,
                                        const std::optional<ledger::Genesis>& given);

// "1a2b3c4d…" (the first 8 bytes in hex, then an ellipsis when longer), for messages.
std::string ShortHex(ByteSpan bytes);

}  // namespace vigil::audit
