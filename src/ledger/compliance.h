// Compliance: does each device run exactly the release it should, untampered?
// (issue 6, docs/ledger.md#compliance)
//
// The release a device should run for an app is the effective version of its group's
// coordinated activation of that app, or, when the group has none, the version the device
// last reported activated. An integrity report (snapshot, tamper detected, repaired) carries
// the release-view root of what is on disk (docs/integrity.md), which equals that release's
// manifest root exactly when the files are the release's. The rules judge every such report
// into a ComplianceRecord per (device, app), written in the block's write set like every other
// state entry: the state hash covers it and an audit's re-execution reaches the same records.
// `activated` reports write nothing here (chains recorded before this table hold them and must
// replay to the same state hashes); the verdict after one is derived at query time.
//
// A group activation becomes effective at a height (or time) without any transaction, so the
// stored record is the verdict as of the last report; `EvaluateCompliance` re-derives the
// verdict at a later height (what the client API answers): a device still on the previous
// version is then "behind", one that activated the new version but sent no snapshot since is
// "unknown".
//
// Thread-safety: pure functions over values the caller owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/codec.h"
#include "ledger/state.h"
#include "ledger/transaction.h"

namespace vigil::ledger {

// DO NOT CHANGE the numeric values: stored and sent.
enum class ComplianceState : uint8_t {
  kUnknown = 1,    // nothing to compare yet (no snapshot since activation, or no release)
  kCompliant = 2,  // the last root equals the manifest root of the release it should run
  kTampered = 3,   // the last root differs from it (tamper not yet repaired)
  kBehind = 4,     // the device runs (or reports) another version than the one it should
};
std::string_view ComplianceStateName(ComplianceState state);

struct ComplianceRecord {
  ComplianceState state = ComplianceState::kUnknown;
  uint64_t since_height = 0;     // the block from which `state` holds (0: before any report)
  std::string expected_version;  // the version it should run ("" when there is none)
  std::string running_version;   // the version it last reported activated ("" never)
  std::string reported_version;  // the version the last integrity report named ("" none)
  std::optional<Sha256Digest> snapshot_root;  // the last integrity report's root
  uint64_t snapshot_height = 0;
  // The kind of the last integrity report judged; nullopt: none.
  std::optional<DeviceReportKind> last_report_kind;
  uint64_t tamper_count = 0;  // tamper-detected reports of this app by this device, ever
  uint64_t last_tamper_height = 0;
  uint32_t last_tamper_files_changed = 0;
  std::string last_tamper_detail;  // what changed, as the device reported it
  uint64_t repair_count = 0;
  uint64_t last_repair_height = 0;
  uint32_t last_repair_files_changed = 0;
  uint64_t last_repair_duration_ms = 0;
  std::string reason;  // why `state`, in words
  friend bool operator==(const ComplianceRecord&, const ComplianceRecord&) = default;
};

// The record's canonical encoding (stored, and sent by the client API).
void EncodeComplianceRecord(codec::Encoder& encoder, const ComplianceRecord& record);
Expected<ComplianceRecord> DecodeComplianceRecord(codec::Decoder& decoder);

std::optional<ComplianceRecord> GetCompliance(const StateReader& state, const PublicKey& device,
                                              std::string_view app);
void PutCompliance(Overlay& state, const PublicKey& device, std::string_view app,
                   const ComplianceRecord& record);
// Every app with a compliance record on `device`, by app.
std::vector<std::pair<std::string, ComplianceRecord>> ListCompliance(const StateReader& state,
                                                                     const PublicKey& device);

struct ExpectedRelease {
  std::string version;            // "" when the device has nothing it should run
  std::string source;             // "group 'line-1' activation" or "its last activation"
  uint64_t effective_height = 0;  // of the group activation (0 for the device's own)
};
// What `device` of `group` should run of `app` in a block of this height and time, given the
// version it last reported activated.
ExpectedRelease ExpectedReleaseAt(const StateReader& state, std::string_view group,
                                  std::string_view app, std::string_view running_version,
                                  uint64_t height, int64_t time_ms);

// The rules' step, called by the executor after it recorded an accepted device report: judges
// an integrity report and writes the device's record (any other kind writes nothing).
// `group` is the device's group; the device app table already holds the report's effect.
void RecordComplianceReport(Overlay& state, const PublicKey& device, std::string_view group,
                            const DeviceReport& report, uint64_t height, int64_t time_ms);

// The verdict on (device, app) in a block of this height and time: the stored record, re-
// derived when the version the device should run, or the one it runs, changed since it was
// judged (then behind, or unknown until its next snapshot). A device that
// never reported the app gets a record too (behind when its group activated the app).
ComplianceRecord EvaluateCompliance(const StateReader& state, const PublicKey& device,
                                    std::string_view group, std::string_view app, uint64_t height,
                                    int64_t time_ms);

// The apps whose compliance matters on `device` of `group`: every app its group activated,
// every app it reported activated, and every app with a compliance record; sorted, unique.
std::vector<std::string> ComplianceApps(const StateReader& state, const PublicKey& device,
                                        std::string_view group);

}  // namespace vigil::ledger
