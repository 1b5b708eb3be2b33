#include "compliance/report.h"

#include <cinttypes>
#include <cstdio>

#include "common/bytes.h"

namespace vigil::compliance {
namespace {

using ledger::ComplianceState;

// Higher is worse: a device's verdict is its worst app's.
int Severity(ComplianceState state) {
  switch (state) {
    case ComplianceState::kCompliant:
      return 0;
    case ComplianceState::kUnknown:
      return 1;
    case ComplianceState::kBehind:
      return 2;
    case ComplianceState::kTampered:
      return 3;
  }
  return 3;
}

std::string Number(uint64_t value) { return std::to_string(value); }

std::string ShowVersion(const std::string& version) { return version.empty() ? "-" : version; }

}  // namespace

ComplianceReport BuildReport(std::string group, std::span<const api::ComplianceResponse> pages) {
  ComplianceReport report;
  report.group = std::move(group);
  if (!pages.empty()) {
    report.height = pages.front().height;
    report.block_time_ms = pages.front().block_time_ms;
    report.block_hash = pages.front().block_hash;
    report.state_hash = pages.front().state_hash;
    report.last_height = pages.back().height;
    report.truncated = pages.back().devices_truncated;
  }
  for (const api::ComplianceResponse& page : pages) {
    for (const api::ComplianceDevice& device : page.devices) {
      DeviceVerdict verdict{.device_key = device.device_key,
                            .group = device.group,
                            .apps = device.apps,
                            .apps_truncated = device.apps_truncated,
                            .state = std::nullopt};
      for (const api::ComplianceApp& app : device.apps) {
        if (!verdict.state || Severity(app.record.state) > Severity(*verdict.state)) {
          verdict.state = app.record.state;
        }
      }
      if (!verdict.state) {
        ++report.without_apps;
      } else {
        switch (*verdict.state) {
          case ComplianceState::kCompliant:
            ++report.compliant;
            break;
          case ComplianceState::kTampered:
            ++report.tampered;
            break;
          case ComplianceState::kBehind:
            ++report.behind;
            break;
          case ComplianceState::kUnknown:
            ++report.unknown;
            break;
        }
      }
      report.devices.push_back(std::move(verdict));
    }
  }
  return report;
}

std::string Explain(const ledger::ComplianceRecord& record) {
  std::string since = record.since_height == 0 ? "" : " since " + Number(record.since_height);
  std::string text;
  switch (record.state) {
    case ComplianceState::kCompliant:
      text = "compliant" + since;
      if (record.repair_count > 0) {
        text += "; repaired at " + Number(record.last_repair_height) + " (" +
                Number(record.last_repair_files_changed) + " file(s) restored in " +
                Number(record.last_repair_duration_ms) + " ms)";
      }
      break;
    case ComplianceState::kTampered:
      text = "tampered" + since;
      if (record.tamper_count > 0 && record.last_tamper_height >= record.since_height) {
        text += ": " + Number(record.last_tamper_files_changed) + " file(s) changed";
        if (!record.last_tamper_detail.empty()) text += ": " + record.last_tamper_detail;
      }
      text += " (" + record.reason + ")";
      return text + (record.tamper_count > 1
                         ? "; tampered " + Number(record.tamper_count) + " time(s)"
                         : "");
    case ComplianceState::kBehind:
    case ComplianceState::kUnknown:
      text = std::string(ledger::ComplianceStateName(record.state)) + since + ": " + record.reason;
      break;
  }
  if (record.tamper_count > 0) {
    text += "; tampered " + Number(record.tamper_count) + " time(s), last at " +
            Number(record.last_tamper_height);
  }
  return text;
}

std::string SummaryLine(const ComplianceReport& report) {
  size_t judged = report.devices.size() - report.without_apps;
  std::string line = "summary: " + Number(report.compliant) + " of " + Number(judged) +
                     " device(s) compliant; " + Number(report.tampered) + " tampered, " +
                     Number(report.behind) + " behind, " + Number(report.unknown) + " unknown";
  if (report.without_apps > 0) {
    line += ", " + Number(report.without_apps) + " with no app to judge";
  }
  line += " at height " + Number(report.height);
  if (report.last_height != report.height) line += "-" + Number(report.last_height);
  if (report.truncated) line += " (more devices than fetched: incomplete)";
  return line;
}

std::string FormatText(const ComplianceReport& report) {
  std::string out =
      "compliance of " +
      (report.group.empty() ? std::string("every group") : "group '" + report.group + "'") +
      " at height " + Number(report.height) + " (block " +
      ToHex(ByteSpan(report.block_hash).first(8)) + ", state hash " +
      ToHex(ByteSpan(report.state_hash).first(8)) + "): " + Number(report.devices.size()) +
      " device(s)\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-12s %-16s %-9s %-12s %-12s %s\n", "device", "group",
                "app", "verdict", "running", "should run", "why");
  out += line;
  for (const DeviceVerdict& device : report.devices) {
    std::string key = ToHex(device.device_key).substr(0, 16);
    if (device.apps.empty()) {
      std::snprintf(line, sizeof line, "%-16s %-12s %-16s %-9s %-12s %-12s %s\n", key.c_str(),
                    device.group.c_str(), "-", "-", "-", "-",
                    "no app to judge (nothing activated)");
      out += line;
    }
    for (const api::ComplianceApp& app : device.apps) {
      const ledger::ComplianceRecord& record = app.record;
      std::snprintf(line, sizeof line, "%-16s %-12s %-16s %-9s %-12s %-12s ", key.c_str(),
                    device.group.c_str(), app.app.c_str(),
                    std::string(ledger::ComplianceStateName(record.state)).c_str(),
                    ShowVersion(record.running_version).c_str(),
                    ShowVersion(record.expected_version).c_str());
      out += line + Explain(record) + "\n";
    }
    if (device.apps_truncated) out += key + " ... more apps than one answer holds\n";
  }
  out += SummaryLine(report) + "\n";
  return out;
}

nlohmann::json ToJson(const ComplianceReport& report) {
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceVerdict& device : report.devices) {
    nlohmann::json apps = nlohmann::json::array();
    for (const api::ComplianceApp& app : device.apps) {
      const ledger::ComplianceRecord& record = app.record;
      apps.push_back(
          {{"app", app.app},
           {"state", ledger::ComplianceStateName(record.state)},
           {"since_height", record.since_height},
           {"expected_version", record.expected_version},
           {"running_version", record.running_version},
           {"reported_version", record.reported_version},
           {"snapshot_root", record.snapshot_root ? ToHex(*record.snapshot_root) : ""},
           {"snapshot_height", record.snapshot_height},
           {"last_report",
            record.last_report_kind ? ledger::DeviceReportKindName(*record.last_report_kind) : ""},
           {"tamper_count", record.tamper_count},
           {"last_tamper_height", record.last_tamper_height},
           {"last_tamper_files_changed", record.last_tamper_files_changed},
           {"last_tamper_detail", record.last_tamper_detail},
           {"repair_count", record.repair_count},
           {"last_repair_height", record.last_repair_height},
           {"last_repair_files_changed", record.last_repair_files_changed},
           {"last_repair_duration_ms", record.last_repair_duration_ms},
           {"reason", record.reason},
           {"explanation", Explain(record)}});
    }
    devices.push_back(
        {{"device", ToHex(device.device_key)},
         {"group", device.group},
         {"state", device.state ? ledger::ComplianceStateName(*device.state) : "no apps"},
         {"apps", apps},
         {"apps_truncated", device.apps_truncated}});
  }
  return {{"group", report.group},
          {"height", report.height},
          {"last_height", report.last_height},
          {"block_time_ms", report.block_time_ms},
          {"block_hash", ToHex(report.block_hash)},
          {"state_hash", ToHex(report.state_hash)},
          {"devices", devices},
          {"truncated", report.truncated},
          {"summary",
           {{"devices", report.devices.size()},
            {"compliant", report.compliant},
            {"tampered", report.tampered},
            {"behind", report.behind},
            {"unknown", report.unknown},
            {"without_apps", report.without_apps}}},
          {"compliant", AllCompliant(report)}};
}

bool AllCompliant(const ComplianceReport& report) {
  if (report.truncated) return false;
  for (const DeviceVerdict& device : report.devices) {
    if (device.apps_truncated) return false;
    if (device.state && *device.state != ComplianceState::kCompliant) return false;
  }
  return true;
}

int ExitCode(const ComplianceReport& report) { return AllCompliant(report) ? 0 : 1; }

}  // namespace vigil::compliance
