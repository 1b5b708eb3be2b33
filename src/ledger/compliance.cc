#include "ledger/compliance.h"

#include <algorithm>

#include "common/assert.h"
#include "common/limits.h"

namespace vigil::ledger {
namespace {

Bytes ComplianceKey(const PublicKey& device, std::optional<std::string_view> app) {
  codec::Encoder encoder;
  encoder.WriteU8(static_cast<uint8_t>(Table::kCompliance));
  encoder.WriteFixed(device);
  if (app) encoder.WriteString(*app);
  return std::move(encoder).Take();
}

ComplianceRecord DecodeStoredRecord(const Bytes& value) {
  auto decoded = codec::DecodeExactly(value, DecodeComplianceRecord);
  VIGIL_ASSERT(decoded.has_value());  // only the rules wrote it
  return std::move(*decoded);
}

// Roots in reasons: the first 8 bytes, enough to match them with `vigil history`.
std::string ShortRoot(const Sha256Digest& root) { return ToHex(ByteSpan(root).first(8)); }

std::string Release(std::string_view app, std::string_view version) {
  return std::string(app) + " " + std::string(version);
}

// Keeps `since_height` when the state stays, moves it to `height` when it changes.
void MoveTo(ComplianceRecord& record, ComplianceState state, uint64_t height) {
  if (record.state != state || record.since_height == 0) record.since_height = height;
  record.state = state;
}

// Judges an integrity report (snapshot, tamper detected, repaired) of `app`.
void JudgeIntegrityReport(const StateReader& state, ComplianceRecord& record,
                          const DeviceReport& report, const ExpectedRelease& expected,
                          uint64_t height) {
  const std::string kind(DeviceReportKindName(report.report_kind));
  const std::string at = kind + " report at height " + std::to_string(height);
  const std::string on_disk = report.version.empty() ? record.running_version : report.version;
  std::string mismatch;
  if (!report.version.empty() && report.version != record.running_version) {
    mismatch = record.running_version.empty()
                   ? " (it never reported activating " + report.app + ")"
                   : " (it last reported activating " + record.running_version + ")";
  }
  if (expected.version.empty()) {
    MoveTo(record, ComplianceState::kUnknown, height);
    record.reason = at + ": no release of " + report.app +
                    " to compare with (no group activation, no activated report)";
    return;
  }
  if (on_disk != expected.version) {
    MoveTo(record, ComplianceState::kBehind, height);
    record.reason = at + " names " + Release(report.app, on_disk.empty() ? "(none)" : on_disk) +
                    mismatch + "; it should run " + expected.version + " (" + expected.source + ")";
    return;
  }
  auto release = GetRelease(state, report.app, expected.version);
  if (!release || !report.snapshot_root) {
    MoveTo(record, ComplianceState::kUnknown, height);
    record.reason = at + ": " + Release(report.app, expected.version) +
                    " has no recorded manifest root" + mismatch;
    return;
  }
  const std::string manifest = Release(report.app, expected.version) + "'s manifest root " +
                               ShortRoot(release->manifest_root);
  if (*report.snapshot_root == release->manifest_root) {
    MoveTo(record, ComplianceState::kCompliant, height);
    record.reason = at + ": root matches " + manifest + mismatch;
    if (report.report_kind == DeviceReportKind::kRepaired) {
      record.reason += "; " + std::to_string(report.files_changed) + " file(s) restored in " +
                       std::to_string(report.duration_ms) + " ms";
    }
    return;
  }
  MoveTo(record, ComplianceState::kTampered, height);
  record.reason =
      at + ": root " + ShortRoot(*report.snapshot_root) + " differs from " + manifest + mismatch;
  if (report.report_kind == DeviceReportKind::kTamperDetected) {
    record.reason += "; " + std::to_string(report.files_changed) + " file(s) changed";
  } else if (report.report_kind == DeviceReportKind::kRepaired) {
    record.reason += "; the repair did not restore the release";
  }
}

}  // namespace

std::string_view ComplianceStateName(ComplianceState state) {
  switch (state) {
    case ComplianceState::kUnknown:
      return "unknown";
    case ComplianceState::kCompliant:
      return "compliant";
    case ComplianceState::kTampered:
      return "tampered";
    case ComplianceState::kBehind:
      return "behind";
  }
  return "invalid";
}

void EncodeComplianceRecord(codec::Encoder& encoder, const ComplianceRecord& record) {
  encoder.WriteU8(static_cast<uint8_t>(record.state));
  encoder.WriteU64(record.since_height);
  encoder.WriteString(record.expected_version);
  encoder.WriteString(record.running_version);
  encoder.WriteString(record.reported_version);
  encoder.WriteOptional(record.snapshot_root,
                        [](codec::Encoder& e, const Sha256Digest& root) { e.WriteFixed(root); });
  encoder.WriteU64(record.snapshot_height);
  encoder.WriteOptional(record.last_report_kind, [](codec::Encoder& e, DeviceReportKind kind) {
    e.WriteU8(static_cast<uint8_t>(kind));
  });
  encoder.WriteU64(record.tamper_count);
  encoder.WriteU64(record.last_tamper_height);
  encoder.WriteU32(record.last_tamper_files_changed);
  encoder.WriteString(record.last_tamper_detail);
  encoder.WriteU64(record.repair_count);
  encoder.WriteU64(record.last_repair_height);
  encoder.WriteU32(record.last_repair_files_changed);
  encoder.WriteU64(record.last_repair_duration_ms);
  encoder.WriteString(record.reason);
}

Expected<ComplianceRecord> DecodeComplianceRecord(codec::Decoder& decoder) {
  ComplianceRecord record;
  VIGIL_ASSIGN_OR_RETURN(uint8_t state, decoder.ReadU8("compliance state"));
  if (state < static_cast<uint8_t>(ComplianceState::kUnknown) ||
      state > static_cast<uint8_t>(ComplianceState::kBehind)) {
    return Fail(ErrorCode::kInvalidArgument,
                "compliance state " + std::to_string(state) + " is not one of 1..4");
  }
  record.state = static_cast<ComplianceState>(state);
  VIGIL_ASSIGN_OR_RETURN(record.since_height, decoder.ReadU64("since_height"));
  VIGIL_ASSIGN_OR_RETURN(record.expected_version,
                         decoder.ReadString("expected_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.running_version,
                         decoder.ReadString("running_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.reported_version,
                         decoder.ReadString("reported_version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.snapshot_root,
                         decoder.ReadOptional("snapshot_root", [](codec::Decoder& d) {
                           return d.ReadFixed<limits::kSha256DigestBytes>("snapshot_root");
                         }));
  VIGIL_ASSIGN_OR_RETURN(record.snapshot_height, decoder.ReadU64("snapshot_height"));
  VIGIL_ASSIGN_OR_RETURN(
      record.last_report_kind,
      decoder.ReadOptional("last_report_kind", [](codec::Decoder& d) -> Expected<DeviceReportKind> {
        VIGIL_ASSIGN_OR_RETURN(uint8_t kind, d.ReadU8("last_report_kind"));
        if (kind < static_cast<uint8_t>(DeviceReportKind::kInstalled) ||
            kind > static_cast<uint8_t>(DeviceReportKind::kAppRestarted)) {
          return Fail(ErrorCode::kInvalidArgument,
                      "report kind " + std::to_string(kind) + " is not one of 1..7");
        }
        return static_cast<DeviceReportKind>(kind);
      }));
  VIGIL_ASSIGN_OR_RETURN(record.tamper_count, decoder.ReadU64("tamper_count"));
  VIGIL_ASSIGN_OR_RETURN(record.last_tamper_height, decoder.ReadU64("last_tamper_height"));
  VIGIL_ASSIGN_OR_RETURN(record.last_tamper_files_changed,
                         decoder.ReadU32("last_tamper_files_changed"));
  VIGIL_ASSIGN_OR_RETURN(record.last_tamper_detail,
                         decoder.ReadString("last_tamper_detail", limits::kLedgerDetailBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.repair_count, decoder.ReadU64("repair_count"));
  VIGIL_ASSIGN_OR_RETURN(record.last_repair_height, decoder.ReadU64("last_repair_height"));
  VIGIL_ASSIGN_OR_RETURN(record.last_repair_files_changed,
                         decoder.ReadU32("last_repair_files_changed"));
  VIGIL_ASSIGN_OR_RETURN(record.last_repair_duration_ms,
                         decoder.ReadU64("last_repair_duration_ms"));
  VIGIL_ASSIGN_OR_RETURN(record.reason,
                         decoder.ReadString("reason", limits::kLedgerComplianceReasonBytesMax));
  return record;
}

std::optional<ComplianceRecord> GetCompliance(const StateReader& state, const PublicKey& device,
                                              std::string_view app) {
  const Bytes* value = state.Find(ComplianceKey(device, app));
  if (value == nullptr) return std::nullopt;
  return DecodeStoredRecord(*value);
}

void PutCompliance(Overlay& state, const PublicKey& device, std::string_view app,
                   const ComplianceRecord& record) {
  codec::Encoder encoder;
  // Reasons are built from bounded names and numbers and stay far below the limit; the clamp
  // keeps a stored record decodable whatever they grow into.
  if (record.reason.size() > limits::kLedgerComplianceReasonBytesMax) {
    ComplianceRecord clamped = record;
    clamped.reason.resize(limits::kLedgerComplianceReasonBytesMax);
    EncodeComplianceRecord(encoder, clamped);
  } else {
    EncodeComplianceRecord(encoder, record);
  }
  state.Put(ComplianceKey(device, app), std::move(encoder).Take());
}

std::vector<std::pair<std::string, ComplianceRecord>> ListCompliance(const StateReader& state,
                                                                     const PublicKey& device) {
  Bytes prefix = ComplianceKey(device, std::nullopt);
  std::vector<std::pair<std::string, ComplianceRecord>> records;
  state.ForEachWithPrefix(prefix, [&](const Bytes& key, const Bytes& value) {
    auto app = codec::DecodeExactly(ByteSpan(key).subspan(prefix.size()), [](codec::Decoder& d) {
      return d.ReadString("app", limits::kLedgerNameBytesMax);
    });
    VIGIL_ASSERT(app.has_value());
    records.emplace_back(std::move(*app), DecodeStoredRecord(value));
  });
  return records;
}

ExpectedRelease ExpectedReleaseAt(const StateReader& state, std::string_view group,
                                  std::string_view app, std::string_view running_version,
                                  uint64_t height, int64_t time_ms) {
  if (auto activation = GetActivation(state, group, app)) {
    const std::string& version = activation->EffectiveVersionAt(height, time_ms);
    if (!version.empty()) {
      bool current = activation->IsEffectiveAt(height, time_ms);
      return ExpectedRelease{
          .version = version,
          .source = "group '" + std::string(group) + "' activation" +
                    (current ? " recorded at height " + std::to_string(activation->recorded_height)
                             : " in force before the pending one"),
          .effective_height =
              current ? (activation->effective_height != 0 ? activation->effective_height
                                                           : activation->recorded_height)
                      : 0};
    }
  }
  return ExpectedRelease{.version = std::string(running_version),
                         .source = "its last activation",
                         .effective_height = 0};
}

void RecordComplianceReport(Overlay& state, const PublicKey& device, std::string_view group,
                            const DeviceReport& report, uint64_t height, int64_t time_ms) {
  bool integrity = report.report_kind == DeviceReportKind::kIntegritySnapshot ||
                   report.report_kind == DeviceReportKind::kTamperDetected ||
                   report.report_kind == DeviceReportKind::kRepaired;
  // Only integrity reports write: chains recorded before this table existed hold `activated`
  // reports and must replay to the same state hashes (EvaluateCompliance derives the verdict
  // after an activation from the device app table instead).
  if (!integrity) return;
  ComplianceRecord record = GetCompliance(state, device, report.app).value_or(ComplianceRecord{});
  auto app = GetDeviceApp(state, device, report.app);
  record.running_version = app ? app->active_version : "";
  ExpectedRelease expected =
      ExpectedReleaseAt(state, group, report.app, record.running_version, height, time_ms);
  record.expected_version = expected.version;
  record.last_report_kind = report.report_kind;
  record.reported_version = report.version;
  record.snapshot_root = report.snapshot_root;
  record.snapshot_height = height;
  if (report.report_kind == DeviceReportKind::kTamperDetected) {
    ++record.tamper_count;
    record.last_tamper_height = height;
    record.last_tamper_files_changed = report.files_changed;
    record.last_tamper_detail = report.detail;
  } else if (report.report_kind == DeviceReportKind::kRepaired) {
    ++record.repair_count;
    record.last_repair_height = height;
    record.last_repair_files_changed = report.files_changed;
    record.last_repair_duration_ms = report.duration_ms;
  }
  JudgeIntegrityReport(state, record, report, expected, height);
  PutCompliance(state, device, report.app, record);
}

ComplianceRecord EvaluateCompliance(const StateReader& state, const PublicKey& device,
                                    std::string_view group, std::string_view app, uint64_t height,
                                    int64_t time_ms) {
  auto stored = GetCompliance(state, device, app);
  auto app_record = GetDeviceApp(state, device, app);
  std::string running = app_record ? app_record->active_version : "";
  ExpectedRelease expected = ExpectedReleaseAt(state, group, app, running, height, time_ms);
  ComplianceRecord record = stored.value_or(ComplianceRecord{});
  auto activated = GetLastReport(state, device, DeviceReportKind::kActivated);
  bool activated_since = activated && activated->report.app == app && stored &&
                         activated->height > stored->snapshot_height;
  if (stored && stored->expected_version == expected.version &&
      stored->running_version == running && !activated_since) {
    return record;  // judged against what it should still run, and runs
  }
  // The release it should run, or the one it runs, changed since the last judgment (or there
  // never was one): from the later of the activation taking effect and the device's
  // `activated` report of what it runs.
  record.expected_version = expected.version;
  record.running_version = running;
  uint64_t since = std::max(record.since_height, expected.effective_height);
  if (activated && activated->report.app == app && activated->report.version == running) {
    since = std::max(since, activated->height);
  }
  if (expected.version.empty()) {
    record.state = ComplianceState::kUnknown;
    record.reason = "never reported activating " + std::string(app);
  } else if (running != expected.version) {
    record.state = ComplianceState::kBehind;
    record.reason = (running.empty() ? "never reported activating " + std::string(app)
                                     : "runs " + Release(app, running)) +
                    "; it should run " + expected.version + " (" + expected.source + ")";
  } else {
    record.state = ComplianceState::kUnknown;
    record.reason = "runs " + Release(app, running) + "; no integrity snapshot since";
  }
  record.since_height = since;
  return record;
}

std::vector<std::string> ComplianceApps(const StateReader& state, const PublicKey& device,
                                        std::string_view group) {
  std::vector<std::string> apps;
  for (auto& entry : ListActivations(state, group)) apps.push_back(std::move(entry.app));
  for (auto& [app, record] : ListDeviceApps(state, device)) {
    if (!record.active_version.empty()) apps.push_back(app);
  }
  for (auto& [app, record] : ListCompliance(state, device)) apps.push_back(app);
  std::ranges::sort(apps);
  auto [first, last] = std::ranges::unique(apps);
  apps.erase(first, last);
  return apps;
}

}  // namespace vigil::ledger
