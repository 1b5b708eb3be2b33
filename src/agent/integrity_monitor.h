// The agent's integrity monitor: keeps every app's active release exactly as its manifest
// says, and tells the ledger (docs/agent.md#integrity, docs/integrity.md).
//
// For every app whose `current` link names a slot (slots.h), the monitor
//   - watches the slot directory (integrity::Watcher on the Asio loop: async_wait on its fd),
//     re-checks the paths it reports (integrity::ScanPath) and scans the whole tree when the
//     watcher cannot vouch for every change (queue overflow, directory removed);
//   - scans the whole tree at start-up (a change made while the agent was down), every
//     `full_scan_interval`, and checks the running app's image (/proc/PID/exe);
//   - keeps a pristine copy of every file of the active and staged releases in
//     <root>/pristine (integrity::PristineStore), pruned of releases no slot needs any more;
//     when a copy needed for a repair is damaged or missing too, asks for the release's bundle
//     again (`request_release`: the gateway offers it with its ledger proof) and, once it is
//     here (RestoreFromBundle), unpacks and verifies it, renews the copies and repairs;
//   - on a difference applies the app's policy:
//       repair      (default) report `tamper detected`, restore (integrity::Repair), report
//                   `repaired`, restart the app if its executable or a file it runs from
//                   changed;
//       alert-only  report `tamper detected` only;
//       quarantine  report `tamper detected`, stop the app and keep it stopped until the tree
//                   is clean again (repaired by someone) or another release is activated;
//   - reports `integrity snapshot` at start, when the active release changes and every
//     `snapshot_interval`.
// Events of one burst are checked together after `coalesce_window`, and checks that find a
// difference are spaced at least `burst_interval_min` apart (doubling while the tampering
// goes on, up to `burst_interval_max`): a tampering loop produces a bounded report rate.
//
// The decisions (what to report, whether to restart, how bursts are spaced) are pure
// functions below; the class is the I/O edge. Thread-safety: one io_context thread.
#pragma once

#include <sys/types.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/supervisor.h"
#include "agent/updater_runner.h"
#include "common/config_file.h"
#include "common/error.h"
#include "common/limits.h"
#include "integrity/repair.h"
#include "integrity/scanner.h"
#include "integrity/snapshot.h"
#include "integrity/watcher.h"
#include "ledger/transaction.h"
#include "release/manifest.h"

namespace vigil::agent {

enum class IntegrityPolicy : uint8_t { kRepair = 1, kAlertOnly = 2, kQuarantine = 3 };
std::string_view IntegrityPolicyName(IntegrityPolicy policy);  // "repair", "alert-only", ...
Expected<IntegrityPolicy> ParseIntegrityPolicy(std::string_view name);

// --- Pure decisions ---

// How often each path was found tampered (since the agent started).
using TamperCounts = std::map<std::string, uint32_t, std::less<>>;

// "2 changes: modified content: bin/run (3rd time); added: tmp/x" — at most `bytes_max`
// bytes (cut at an entry boundary with "; … N more").
std::string DescribeTamper(const std::vector<integrity::Difference>& differences,
                           const TamperCounts& counts, size_t bytes_max);

// Whether the app must be restarted after these differences are repaired: its executable
// (the manifest entry's program) or a file named in its command line changed, or a file that
// looks like configuration (under etc/, or *.conf, *.toml, *.json, *.yaml, *.yml, *.ini,
// *.cfg) changed content or went away. Mode-only changes of other files do not restart.
bool NeedsRestart(const release::Manifest& manifest,
                  const std::vector<integrity::Difference>& differences);

// The spacing of the next check that finds a difference: doubles (up to `max`) when the
// previous tampering was less than twice the current spacing ago, else back to `min`.
std::chrono::milliseconds NextBurstInterval(std::chrono::milliseconds current,
                                            std::chrono::milliseconds since_last_tamper,
                                            std::chrono::milliseconds min,
                                            std::chrono::milliseconds max);

// --- The monitor (I/O edge) ---

struct IntegrityMonitorOptions {
  std::filesystem::path root;  // the agent's root: apps/<app>/..., pristine/
  IntegrityPolicy default_policy = IntegrityPolicy::kRepair;
  std::map<std::string, IntegrityPolicy> policies;  // per app, overrides the default
  std::chrono::milliseconds full_scan_interval = limits::kAgentIntegrityFullScanInterval;
  std::chrono::milliseconds snapshot_interval = limits::kAgentIntegritySnapshotInterval;
  std::chrono::milliseconds coalesce_window = limits::kAgentIntegrityCoalesceWindow;
  std::chrono::milliseconds burst_interval_min = limits::kAgentIntegrityBurstIntervalMin;
  std::chrono::milliseconds burst_interval_max = limits::kAgentIntegrityBurstIntervalMax;
  integrity::DiffOptions diff;      // expected owner of release files (none: not checked)
  integrity::RepairOptions repair;  // owner restored files get
  std::function<int64_t()> now_ms;  // wall clock for reports; the system clock by default
};

// What the monitor needs from the rest of the agent (UpdaterRunner in the daemon).
struct IntegrityMonitorHooks {
  ReportSink sink;  // reports (at least once: the sink resends)
  // The app's supervisor (restart, quarantine); nullptr when there is none.
  std::function<Supervisor*(const std::string& app)> supervisor;
  // False while the updater switches the app's release: checks wait until it has settled.
  std::function<bool(const std::string& app)> settled;
  // The slot of the app's staged release ("" when none): its files get pristine copies too.
  std::function<std::string(const std::string& app)> staged_slot;
  // A repair needs a file whose pristine copy is damaged: fetch the release's bundle again
  // and hand it to RestoreFromBundle. Called once per release until it is restored; nullptr
  // when there is no gateway (the repair then stays incomplete).
  std::function<void(const std::string& app, const std::string& version)> request_release;
};

// The agent configuration's [integrity] table (docs/agent.md#integrity); nullopt when it says
// `enabled = false`. Absent: enabled with the defaults.
//
//   [integrity]
//   enabled = true
//   policy = "repair"                  # repair | alert-only | quarantine, for every app
//   full_scan_interval_ms = 3600000
//   snapshot_interval_ms = 300000
//   [integrity.policies]
//   press-control = "quarantine"       # per app
Expected<std::optional<IntegrityMonitorOptions>> ParseIntegrityConfig(const toml::table& root);

class IntegrityMonitor {
 public:
  IntegrityMonitor(asio::io_context& io_context, IntegrityMonitorOptions options,
                   IntegrityMonitorHooks hooks);
  ~IntegrityMonitor();
  IntegrityMonitor(const IntegrityMonitor&) = delete;
  IntegrityMonitor& operator=(const IntegrityMonitor&) = delete;

  // Opens the pristine store, looks at every app (Refresh) and starts the periodic timers.
  Status Start();
  // The apps' releases may have changed (a transition of the updater): stores the files of
  // new staged/active slots, watches a newly active slot (start-up scan), prunes the store.
  void Refresh();
  // Scans `app`'s active release now and reports the snapshot (after an activation the ledger
  // judges compliance from the first snapshot that follows it).
  void ReportSnapshot(const std::string& app, std::string reason);

  // The bundle of `app`'s active release, fetched again after request_release (verified by
  // the session against the ledger's digest): unpacked into a scratch slot with the agent's
  // own checks (every file against the manifest the ledger recorded), every file's pristine
  // copy renewed from it, then the tree checked and repaired again. Refused when the release
  // is not the active one.
  Status RestoreFromBundle(const std::string& app, const std::string& version,
                           const crypto::Sha256Digest& manifest_root,
                           const std::filesystem::path& bundle);

  // For tests and the CLI: counters since start.
  struct Counters {
    uint64_t full_scans = 0;
    uint64_t path_checks = 0;
    uint64_t tamper_bursts = 0;  // checks that found differences
    uint64_t files_repaired = 0;
    uint64_t needs_fetch = 0;
    uint64_t bundles_refetched = 0;  // pristine copies renewed from a re-fetched bundle
    uint64_t restarts = 0;
    uint64_t reports = 0;
  };
  const Counters& counters() const { return counters_; }
  bool watching(const std::string& app) const { return apps_.contains(app); }
  bool quarantined(const std::string& app) const;
  const std::filesystem::path& pristine_directory() const { return store_directory_; }

 private:
  struct Watched;
  void Watch(const std::string& app, const std::string& slot, release::Manifest manifest);
  void WaitForEvents(Watched& watched);
  void ScheduleCheck(Watched& watched, std::chrono::milliseconds delay);
  void Check(Watched& watched);
  Status FullScan(Watched& watched);
  Status RecheckPaths(Watched& watched);
  std::optional<std::string> ExecutableProblem(Watched& watched);
  void HandleDifferences(Watched& watched, const integrity::Snapshot& snapshot,
                         const std::optional<std::string>& executable_problem);
  void RepairNow(Watched& watched, const integrity::Snapshot& snapshot, bool restart);
  void RestartApp(Watched& watched);
  void Release(Watched& watched);  // leaves quarantine: starts the app again
  void SendSnapshot(Watched& watched, std::string detail);
  void Send(ledger::DeviceReport report);
  void StoreSlotFiles(const std::string& app, const std::string& slot);
  void PruneStore();
  void StartPeriodicTimers();
  void ArmFullScanTimer();
  void ArmSnapshotTimer();
  int64_t NowMs() const;
  IntegrityPolicy PolicyOf(const std::string& app) const;

  asio::io_context& io_context_;
  IntegrityMonitorOptions options_;
  IntegrityMonitorHooks hooks_;
  std::filesystem::path store_directory_;
  std::optional<integrity::PristineStore> store_;
  std::map<std::string, std::unique_ptr<Watched>> apps_;
  asio::steady_timer full_scan_timer_;
  asio::steady_timer snapshot_timer_;
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::agent
