// The history of releases and devices as queries over the ledger: seed 001's log_upload.txt
// (what was published, when), log_download.txt and log_install.txt (what each device staged,
// activated, rolled back, restarted, and what its integrity reports said) — read from
// committed blocks instead of files a compromised machine could rewrite.
//
// A pure core: blocks the caller has verified (api::VerifyCommittedBlock, as `vigil history`
// does) go in, rows come out. No I/O, no clock.
//
//   HistoryBuilder builder(Filter{.device = "", .app = "press-control", .since_height = 0}, 1000);
//   for each verified block: VIGIL_RETURN_IF_ERROR(builder.AddBlock(block, results));
//                            if (builder.full()) break;
//   VIGIL_RETURN_IF_ERROR(builder.Finish());  // e.g. a device prefix that matched two devices
//   for (const Row& row : builder.rows()) ...
//
// Rows are the transactions about releases and devices: publish, enroll, revoke and every
// device report kind. Committed refusals are rows too (result refused, with the ledger's
// reason): "the device said it installed a release that does not exist" is history as well.
// Governance of publishers and peer reports are not about a device or an app and give no row.
//
// Thread-safety: plain values; one thread uses a builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "ledger/block.h"
#include "ledger/transaction.h"

namespace vigil::history {

enum class RowKind : uint8_t {
  kPublish,
  kEnroll,
  kRevoke,
  kInstalled,
  kActivated,
  kRolledBack,
  kAppRestarted,
  kIntegritySnapshot,
  kTamperDetected,
  kRepaired,
};
// "publish", "enroll", "revoke", "installed", "activated", "rolled back", "app restarted",
// "integrity snapshot", "tamper", "repaired".
std::string_view RowKindName(RowKind kind);

struct Row {
  uint64_t height = 0;
  int64_t block_time_ms = 0;
  uint32_t index = 0;  // position in its block
  ledger::TransactionId transaction_id{};
  RowKind kind = RowKind::kPublish;
  crypto::PublicKey signer{};
  std::optional<crypto::PublicKey> device;  // enroll, revoke, reports
  std::string app;                          // publish, reports
  std::string version;                      // publish, reports (may be empty in a report)
  ledger::TransactionResult result;         // ok, or the refusal the ledger recorded
  // Publish: what the ledger records about the bundle. Detail holds the notes.
  std::optional<crypto::Sha256Digest> bundle_digest;
  uint64_t bundle_size_bytes = 0;
  // Reports: the device's own numbers (its clock is not trusted; the block time is).
  int64_t observed_time_ms = 0;
  uint64_t duration_ms = 0;
  uint32_t files_changed = 0;
  std::optional<crypto::Sha256Digest> snapshot_root;
  // A report's detail, a release's notes, an enrolment's group and labels, a revocation's reason.
  std::string detail;
  // Publish: the release's manifest root. Integrity reports (snapshot, tamper, repaired): the
  // manifest root of the release the report names, when the builder saw it published.
  std::optional<crypto::Sha256Digest> manifest_root;
  // Accepted tamper reports: this one's number for its device and app, counting from the first
  // block walked (1 for the first); 0 for every other row (HistoryBuilder only).
  uint64_t tamper_number = 0;
  friend bool operator==(const Row&, const Row&) = default;
  // Integrity reports: whether the snapshot root equals the manifest root of the release it
  // names (what is on disk is exactly that release); nullopt when either is unknown.
  std::optional<bool> MatchesManifest() const {
    if (!snapshot_root || !manifest_root) return std::nullopt;
    return *snapshot_root == *manifest_root;
  }
};

struct Filter {
  // "" for any device; else the full key in hex (64 characters) or a prefix of at least
  // limits::kHistoryDevicePrefixHexMin hex characters that must match one device only.
  std::string device;
  std::string app;            // "" for any app
  uint64_t since_height = 0;  // rows of blocks at or above this height
};

// The filter's fields: hex, prefix length, app name charset.
Status ValidateFilter(const Filter& filter);

// Every row of one block, unfiltered, in block order. `results` are the block's, one per
// transaction (kInvalidArgument when the counts differ).
Expected<std::vector<Row>> RowsOfBlock(const ledger::Block& block,
                                       std::span<const ledger::TransactionResult> results);

class HistoryBuilder {
 public:
  // `filter` must pass ValidateFilter (asserted); at most `rows_max` rows are kept.
  HistoryBuilder(Filter filter, size_t rows_max);

  // Adds the matching rows of one verified block; blocks must come in ascending height.
  Status AddBlock(const ledger::Block& block, std::span<const ledger::TransactionResult> results);
  // True once rows_max rows are kept: the caller stops walking, and the output says so.
  bool full() const { return rows_.size() >= rows_max_; }
  // kInvalidArgument when a device prefix matched several devices (naming them).
  Status Finish() const;

  const std::vector<Row>& rows() const { return rows_; }

 private:
  bool Matches(const Row& row) const;

  // Every accepted publish and tamper report seen, matching or not: integrity rows name the
  // manifest root they are compared with, tamper rows their number (issue 6).
  void Observe(Row& row);

  Filter filter_;
  std::string device_hex_;  // lower case
  std::map<std::pair<std::string, std::string>, crypto::Sha256Digest> manifest_roots_;
  std::map<std::pair<crypto::PublicKey, std::string>, uint64_t> tamper_counts_;
  size_t rows_max_;
  std::vector<Row> rows_;
  std::set<crypto::PublicKey> devices_matched_;
  uint64_t last_height_ = 0;
};

}  // namespace vigil::history
