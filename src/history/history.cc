#include "history/history.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <variant>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/limits.h"

namespace vigil::history {
namespace {

constexpr size_t kKeyHexCharacters = 2 * limits::kEd25519PublicKeyBytes;
// Devices named when a prefix is ambiguous (the rest are counted).
constexpr size_t kAmbiguousDevicesNamedMax = 4;

std::string LowerCase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

RowKind KindOfReport(ledger::DeviceReportKind kind) {
  switch (kind) {
    case ledger::DeviceReportKind::kInstalled: return RowKind::kInstalled;
    case ledger::DeviceReportKind::kActivated: return RowKind::kActivated;
    case ledger::DeviceReportKind::kRolledBack: return RowKind::kRolledBack;
    case ledger::DeviceReportKind::kIntegritySnapshot: return RowKind::kIntegritySnapshot;
    case ledger::DeviceReportKind::kTamperDetected: return RowKind::kTamperDetected;
    case ledger::DeviceReportKind::kRepaired: return RowKind::kRepaired;
    case ledger::DeviceReportKind::kAppRestarted: return RowKind::kAppRestarted;
  }
  VIGIL_ASSERT(false && "every report kind has a row kind");
  return RowKind::kInstalled;
}

// Fills the kind-specific fields; false for kinds that give no row.
struct RowFiller {
  Row& row;

  bool operator()(const ledger::EnrollDevice& body) const {
    row.kind = RowKind::kEnroll;
    row.device = body.device_key;
    row.detail = "group " + body.group;
    for (size_t i = 0; i < body.labels.size(); ++i) {
      row.detail += (i == 0 ? ", labels " : " ") + body.labels[i];
    }
    return true;
  }
  bool operator()(const ledger::RevokeDevice& body) const {
    row.kind = RowKind::kRevoke;
    row.device = body.device_key;
    row.detail = body.reason;
    return true;
  }
  bool operator()(const ledger::PublishRelease& body) const {
    row.kind = RowKind::kPublish;
    row.app = body.app;
    row.version = body.version;
    row.bundle_digest = body.bundle_digest;
    row.bundle_size_bytes = body.bundle_size_bytes;
    row.manifest_root = body.manifest_root;
    row.detail = body.notes;
    return true;
  }
  bool operator()(const ledger::DeviceReport& body) const {
    row.kind = KindOfReport(body.report_kind);
    row.device = row.signer;  // a report is signed by its device
    row.app = body.app;
    row.version = body.version;
    row.observed_time_ms = body.observed_time_ms;
    row.duration_ms = body.duration_ms;
    row.files_changed = body.files_changed;
    row.snapshot_root = body.snapshot_root;
    row.detail = body.detail;
    return true;
  }
  bool operator()(const ledger::AddPublisher&) const { return false; }
  bool operator()(const ledger::RemovePublisher&) const { return false; }
  bool operator()(const ledger::PeerReport&) const { return false; }
  bool operator()(const ledger::ActivateRelease&) const { return false; }
  bool operator()(const ledger::ActivateRules&) const { return false; }
};

}  // namespace

std::string_view RowKindName(RowKind kind) {
  switch (kind) {
    case RowKind::kPublish: return "publish";
    case RowKind::kEnroll: return "enroll";
    case RowKind::kRevoke: return "revoke";
    case RowKind::kInstalled: return "installed";
    case RowKind::kActivated: return "activated";
    case RowKind::kRolledBack: return "rolled back";
    case RowKind::kAppRestarted: return "app restarted";
    case RowKind::kIntegritySnapshot: return "integrity snapshot";
    case RowKind::kTamperDetected: return "tamper";
    case RowKind::kRepaired: return "repaired";
  }
  return "unknown";
}

Status ValidateFilter(const Filter& filter) {
  if (!filter.device.empty()) {
    const bool hex = std::ranges::all_of(
        filter.device, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
    if (!hex || filter.device.size() > kKeyHexCharacters) {
      return Fail(ErrorCode::kInvalidArgument,
                  "device '" + filter.device.substr(0, kKeyHexCharacters + 1) +
                      "' is not a device key in hex (64 characters, or a prefix of at least " +
                      std::to_string(limits::kHistoryDevicePrefixHexMin) + ")");
    }
    if (filter.device.size() < limits::kHistoryDevicePrefixHexMin) {
      return Fail(ErrorCode::kInvalidArgument,
                  "device prefix '" + filter.device + "' is too short: give at least " +
                      std::to_string(limits::kHistoryDevicePrefixHexMin) +
                      " hex characters of the key");
    }
  }
  if (!filter.app.empty()) VIGIL_RETURN_IF_ERROR(ledger::ValidateAppName("app", filter.app));
  return Ok();
}

Expected<std::vector<Row>> RowsOfBlock(const ledger::Block& block,
                                       std::span<const ledger::TransactionResult> results) {
  if (results.size() != block.transactions.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "block " + std::to_string(block.header.height) + " has " +
                    std::to_string(block.transactions.size()) + " transactions but " +
                    std::to_string(results.size()) + " results");
  }
  std::vector<Row> rows;
  for (size_t i = 0; i < block.transactions.size(); ++i) {
    // Committed transactions passed the stateless check, so they decode; one that does not
    // is no history of anything and is skipped.
    auto envelope = ledger::DecodeEnvelope(block.transactions[i]);
    if (!envelope) continue;
    auto body = ledger::DecodeBody(envelope->kind, envelope->body);
    if (!body) continue;
    Row row;
    row.height = block.header.height;
    row.block_time_ms = block.header.time_ms;
    row.index = static_cast<uint32_t>(i);
    row.transaction_id = ledger::ComputeTransactionId(block.transactions[i]);
    row.signer = envelope->signer;
    row.result = results[i];
    if (std::visit(RowFiller{row}, *body)) rows.push_back(std::move(row));
  }
  return rows;
}

HistoryBuilder::HistoryBuilder(Filter filter, size_t rows_max)
    : filter_(std::move(filter)), device_hex_(LowerCase(filter_.device)), rows_max_(rows_max) {
  VIGIL_ASSERT(ValidateFilter(filter_).has_value());
}

bool HistoryBuilder::Matches(const Row& row) const {
  if (row.height < filter_.since_height) return false;
  if (!filter_.app.empty() && row.app != filter_.app) return false;
  if (!device_hex_.empty()) {
    if (!row.device) return false;
    if (!ToHex(*row.device).starts_with(device_hex_)) return false;
  }
  return true;
}

Status HistoryBuilder::AddBlock(const ledger::Block& block,
                                std::span<const ledger::TransactionResult> results) {
  if (block.header.height <= last_height_) {
    return Fail(ErrorCode::kInvalidArgument,
                "block " + std::to_string(block.header.height) + " came after block " +
                    std::to_string(last_height_) + "; blocks must come in ascending height");
  }
  last_height_ = block.header.height;
  VIGIL_ASSIGN_OR_RETURN(std::vector<Row> rows, RowsOfBlock(block, results));
  for (Row& row : rows) {
    Observe(row);
    if (full()) break;
    if (!Matches(row)) continue;
    if (row.device && !device_hex_.empty()) devices_matched_.insert(*row.device);
    rows_.push_back(std::move(row));
  }
  return Ok();
}

void HistoryBuilder::Observe(Row& row) {
  if (!row.result.ok()) return;
  std::pair<std::string, std::string> release{row.app, row.version};
  if (row.kind == RowKind::kPublish && row.manifest_root) {
    manifest_roots_[release] = *row.manifest_root;
    return;
  }
  bool integrity = row.kind == RowKind::kIntegritySnapshot ||
                   row.kind == RowKind::kTamperDetected || row.kind == RowKind::kRepaired;
  if (!integrity) return;
  if (auto found = manifest_roots_.find(release); found != manifest_roots_.end()) {
    row.manifest_root = found->second;
  }
  if (row.kind == RowKind::kTamperDetected && row.device) {
    row.tamper_number = ++tamper_counts_[{*row.device, row.app}];
  }
}

Status HistoryBuilder::Finish() const {
  if (devices_matched_.size() <= 1) return Ok();
  std::string named;
  size_t count = 0;
  for (const crypto::PublicKey& device : devices_matched_) {
    if (count++ == kAmbiguousDevicesNamedMax) {
      named += " and " + std::to_string(devices_matched_.size() - kAmbiguousDevicesNamedMax) +
               " more";
      break;
    }
    named += (named.empty() ? "" : ", ") + ToHex(device);
  }
  return Fail(ErrorCode::kInvalidArgument, "device prefix '" + filter_.device + "' matches " +
                                               std::to_string(devices_matched_.size()) +
                                               " devices (" + named +
                                               "); give more characters of the key");
}

}  // namespace vigil::history
