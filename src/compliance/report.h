// `vigil compliance` as a pure core: the pages of a peer's compliance answer
// (api::ComplianceResponse) in; which devices run exactly the activated, untampered release,
// which do not and why, a summary and the exit code out. No I/O: the command fetches the
// pages, prints `FormatText` or `ToJson`, and exits with `ExitCode`.
//
//   ComplianceReport report = BuildReport("line-1", pages);
//   std::fputs(FormatText(report).c_str(), stdout);
//   return ExitCode(report);  // 0: every device compliant, 1: not
//
// A device is compliant when every app it should run is compliant; its verdict is its worst
// app's (tampered, then behind, then unknown). A device with no app to judge (its group
// activated nothing and it activated nothing) is listed as such and does not fail the report.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "api/messages.h"
#include "ledger/compliance.h"

namespace vigil::compliance {

struct DeviceVerdict {
  crypto::PublicKey device_key{};
  std::string group;
  std::vector<api::ComplianceApp> apps;  // by app
  bool apps_truncated = false;
  // Worst of its apps; nullopt when it has none to judge.
  std::optional<ledger::ComplianceState> state;
};

struct ComplianceReport {
  std::string group;         // "" for every group
  uint64_t height = 0;       // of the first page
  uint64_t last_height = 0;  // of the last page (equal unless the chain moved while paging)
  int64_t block_time_ms = 0;
  crypto::Sha256Digest block_hash{};
  crypto::Sha256Digest state_hash{};
  std::vector<DeviceVerdict> devices;  // by key
  bool truncated = false;              // the peer had more devices than were fetched
  size_t compliant = 0;
  size_t tampered = 0;
  size_t behind = 0;
  size_t unknown = 0;
  size_t without_apps = 0;
};

ComplianceReport BuildReport(std::string group, std::span<const api::ComplianceResponse> pages);

// One line on why (device, app) is in its state: "tampered since 41: 1 file(s) changed:
// modified: bin/app (tamper report at height 41: root ... differs ...)", "compliant since 44;
// repaired at 44 (1 file(s) restored in 3 ms); tampered 1 time(s), last at 41".
std::string Explain(const ledger::ComplianceRecord& record);

// The table, one row per (device, app), and the summary line.
std::string FormatText(const ComplianceReport& report);
std::string SummaryLine(const ComplianceReport& report);
nlohmann::json ToJson(const ComplianceReport& report);
bool AllCompliant(const ComplianceReport& report);
// 0 when every device is compliant, 1 otherwise (docs/cli.md#vigil-compliance).
int ExitCode(const ComplianceReport& report);

}  // namespace vigil::compliance
