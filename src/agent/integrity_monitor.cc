#include "agent/integrity_monitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <charconv>
#include <fstream>

#include "agent/slots.h"
#include "common/bytes.h"
#include "common/log.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string Ordinal(uint32_t n) {
  std::string suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}

bool LooksLikeConfiguration(std::string_view path) {
  if (path.starts_with("etc/")) return true;
  for (std::string_view extension : {".conf", ".toml", ".json", ".yaml", ".yml", ".ini", ".cfg"}) {
    if (path.ends_with(extension)) return true;
  }
  return false;
}

// "./bin/run" and "bin/run" name the same file of the slot.
std::string SlotRelative(std::string_view argument) {
  while (argument.starts_with("./")) argument.remove_prefix(2);
  return std::string(argument);
}

// Joins `parts` with "; " into at most `bytes_max` bytes, ending with "; … N more" when cut.
std::string JoinBounded(const std::vector<std::string>& parts, std::string prefix,
                        size_t bytes_max) {
  std::string text = std::move(prefix);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string piece = (i == 0 ? "" : "; ") + parts[i];
    std::string more = "; ... " + std::to_string(parts.size() - i) + " more";
    bool last = i + 1 == parts.size();
    if (text.size() + piece.size() + (last ? 0 : more.size()) > bytes_max) {
      if (text.size() + more.size() <= bytes_max) text += more;
      return text.substr(0, bytes_max);
    }
    text += piece;
  }
  return text.substr(0, bytes_max);
}

std::optional<pid_t> ReadPid(const std::filesystem::path& pid_file) {
  std::ifstream in(pid_file);
  long long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

void UpsertRecord(std::vector<integrity::FileRecord>& records, const std::string& path,
                  const std::optional<integrity::FileRecord>& found) {
  auto at = std::ranges::lower_bound(records, path, {}, &integrity::FileRecord::path);
  bool present = at != records.end() && at->path == path;
  if (found) {
    if (present) {
      *at = *found;
    } else {
      records.insert(at, *found);
    }
  } else if (present) {
    records.erase(at);
  }
}

}  // namespace

std::string_view IntegrityPolicyName(IntegrityPolicy policy) {
  switch (policy) {
    case IntegrityPolicy::kRepair:
      return "repair";
    case IntegrityPolicy::kAlertOnly:
      return "alert-only";
    case IntegrityPolicy::kQuarantine:
      return "quarantine";
  }
  return "unknown";
}

Expected<IntegrityPolicy> ParseIntegrityPolicy(std::string_view name) {
  for (IntegrityPolicy policy :
       {IntegrityPolicy::kRepair, IntegrityPolicy::kAlertOnly, IntegrityPolicy::kQuarantine}) {
    if (IntegrityPolicyName(policy) == name) return policy;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown integrity policy \"" + std::string(name) +
                                               "\" (repair, alert-only or quarantine)");
}

std::string DescribeTamper(const std::vector<integrity::Difference>& differences,
                           const TamperCounts& counts, size_t bytes_max) {
  std::vector<std::string> parts;
  parts.reserve(differences.size());
  for (const integrity::Difference& difference : differences) {
    std::string part = integrity::DescribeDifference(difference);
    auto count = counts.find(difference.path);
    if (count != counts.end() && count->second > 1) {
      part += " (" + Ordinal(count->second) + " time)";
    }
    parts.push_back(std::move(part));
  }
  std::string prefix =
      std::to_string(differences.size()) + (differences.size() == 1 ? " change: " : " changes: ");
  return JoinBounded(parts, std::move(prefix), bytes_max);
}

bool NeedsRestart(const release::Manifest& manifest,
                  const std::vector<integrity::Difference>& differences) {
  std::set<std::string, std::less<>> runs_from;
  for (const std::string& argument : manifest.entry) runs_from.insert(SlotRelative(argument));
  for (const integrity::Difference& difference : differences) {
    if (difference.kind == integrity::DifferenceKind::kAdded) continue;
    if (runs_from.contains(difference.path)) return true;
    bool content_gone = difference.kind != integrity::DifferenceKind::kModified ||
                        (difference.aspects & integrity::kAspectContent) != 0;
    if (content_gone && LooksLikeConfiguration(difference.path)) return true;
  }
  return false;
}

milliseconds NextBurstInterval(milliseconds current, milliseconds since_last_tamper,
                               milliseconds min, milliseconds max) {
  if (since_last_tamper >= 2 * current) return min;
  return std::clamp(2 * current, min, max);
}

Expected<std::optional<IntegrityMonitorOptions>> ParseIntegrityConfig(const toml::table& root) {
  IntegrityMonitorOptions options;
  const toml::node* node = root.get("integrity");
  if (node == nullptr) return options;
  const auto* table = node->as_table();
  if (table == nullptr) return Fail(ErrorCode::kInvalidArgument, "'integrity' must be a table");
  VIGIL_RETURN_IF_ERROR(config::RefuseUnknownKeys(
      *table, "[integrity]",
      {"enabled", "policy", "full_scan_interval_ms", "snapshot_interval_ms", "policies"}));
  if (const toml::node* enabled = table->get("enabled")) {
    auto value = enabled->value<bool>();
    if (!value) return Fail(ErrorCode::kInvalidArgument, "[integrity] 'enabled' must be a boolean");
    if (!*value) return std::optional<IntegrityMonitorOptions>();
  }
  VIGIL_ASSIGN_OR_RETURN(std::string policy, config::OptionalString(*table, "policy", "repair"));
  auto parsed = ParseIntegrityPolicy(policy);
  if (!parsed) return std::unexpected(parsed.error().WithContext("[integrity] policy"));
  options.default_policy = *parsed;
  VIGIL_RETURN_IF_ERROR(config::ReadMilliseconds(*table, "[integrity] ", "full_scan_interval_ms",
                                                 options.full_scan_interval));
  VIGIL_RETURN_IF_ERROR(config::ReadMilliseconds(*table, "[integrity] ", "snapshot_interval_ms",
                                                 options.snapshot_interval));
  if (options.full_scan_interval.count() <= 0 || options.snapshot_interval.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "[integrity] intervals must be positive");
  }
  if (const toml::node* policies_node = table->get("policies")) {
    const auto* policies = policies_node->as_table();
    if (policies == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "[integrity.policies] must be a table");
    }
    if (policies->size() > limits::kConfigListEntriesMax) {
      return Fail(ErrorCode::kResourceExhausted, "[integrity.policies] has too many apps");
    }
    for (const auto& [key, value] : *policies) {
      auto text = value.value<std::string>();
      Expected<IntegrityPolicy> app_policy =
          text ? ParseIntegrityPolicy(*text)
               : Expected<IntegrityPolicy>(Fail(ErrorCode::kInvalidArgument, "must be a string"));
      if (!app_policy) {
        return std::unexpected(
            app_policy.error().WithContext("[integrity.policies] " + std::string(key.str())));
      }
      options.policies[std::string(key.str())] = *app_policy;
    }
  }
  return options;
}

// --- IntegrityMonitor ---

struct IntegrityMonitor::Watched {
  Watched(asio::io_context& io_context, std::string name)
      : app(std::move(name)), check_timer(io_context) {}
  ~Watched() {
    *token = false;
    check_timer.cancel();
    if (stream) stream->cancel();
  }
  std::string app;
  // False once this Watched is gone: a handler already queued when it was cancelled checks it.
  std::shared_ptr<bool> token = std::make_shared<bool>(true);
  std::string slot;
  std::filesystem::path directory;
  release::Manifest manifest;
  std::unique_ptr<integrity::Watcher> watcher;
  std::unique_ptr<asio::posix::stream_descriptor> stream;  // a dup of the watcher's fd
  std::set<std::string> pending;
  bool full_scan_pending = true;
  bool check_scheduled = false;
  asio::steady_timer check_timer;
  std::vector<integrity::FileRecord> records;  // what is on disk, kept current
  bool have_records = false;
  TamperCounts counts;
  bool tampered_before = false;
  Clock::time_point last_tamper{};
  milliseconds burst_interval{0};
  bool quarantined = false;
  std::optional<Program> quarantined_program;
  std::optional<crypto::Sha256Digest> last_alert_root;  // alert-only: reported once per state
  // A snapshot asked for before the first scan (nothing known of the disk yet): sent with
  // this detail once the scan is done, never as "every file missing".
  std::optional<std::string> pending_snapshot;
  bool release_requested = false;  // request_release called; waiting for RestoreFromBundle
  size_t copies_renewed = 0;       // by the last RestoreFromBundle, told in the next repair
};

IntegrityMonitor::IntegrityMonitor(asio::io_context& io_context, IntegrityMonitorOptions options,
                                   IntegrityMonitorHooks hooks)
    : io_context_(io_context),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      store_directory_(options_.root / "pristine"),
      full_scan_timer_(io_context),
      snapshot_timer_(io_context) {}

IntegrityMonitor::~IntegrityMonitor() {
  *alive_ = false;
  full_scan_timer_.cancel();
  snapshot_timer_.cancel();
  apps_.clear();
}

int64_t IntegrityMonitor::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

IntegrityPolicy IntegrityMonitor::PolicyOf(const std::string& app) const {
  auto found = options_.policies.find(app);
  return found == options_.policies.end() ? options_.default_policy : found->second;
}

bool IntegrityMonitor::quarantined(const std::string& app) const {
  auto found = apps_.find(app);
  return found != apps_.end() && found->second->quarantined;
}

Status IntegrityMonitor::Start() {
  VIGIL_ASSIGN_OR_RETURN(integrity::PristineStore store,
                         integrity::PristineStore::Open(store_directory_));
  store_ = std::move(store);
  Refresh();
  StartPeriodicTimers();
  return Ok();
}

void IntegrityMonitor::StartPeriodicTimers() {
  ArmFullScanTimer();
  ArmSnapshotTimer();
}

void IntegrityMonitor::ArmFullScanTimer() {
  full_scan_timer_.expires_after(options_.full_scan_interval);
  full_scan_timer_.async_wait([this, alive = alive_](std::error_code error) {
    if (!*alive || error) return;
    for (auto& [name, watched] : apps_) {
      watched->full_scan_pending = true;
      ScheduleCheck(*watched, milliseconds(0));
    }
    ArmFullScanTimer();
  });
}

void IntegrityMonitor::ArmSnapshotTimer() {
  snapshot_timer_.expires_after(options_.snapshot_interval);
  snapshot_timer_.async_wait([this, alive = alive_](std::error_code error) {
    if (!*alive || error) return;
    for (auto& [name, watched] : apps_) SendSnapshot(*watched, "periodic");
    ArmSnapshotTimer();
  });
}

void IntegrityMonitor::Refresh() {
  if (!store_) return;
  const std::filesystem::path apps_directory = options_.root / "apps";
  std::error_code error;
  std::set<std::string> seen;
  std::set<crypto::Sha256Digest> needed;
  for (const auto& entry : std::filesystem::directory_iterator(apps_directory, error)) {
    if (!entry.is_directory()) continue;
    std::string app = entry.path().filename().string();
    AppLayout layout(options_.root, app);
    auto current = ReadLink(layout.current());
    std::vector<std::string> slots;
    if (current && current->has_value()) slots.push_back(**current);
    if (hooks_.staged_slot) {
      std::string staged = hooks_.staged_slot(app);
      if (!staged.empty()) slots.push_back(std::move(staged));
    }
    for (const std::string& slot : slots) {
      auto manifest = LoadSlotManifest(layout, slot);
      if (!manifest) continue;
      for (const auto& file : manifest->files) needed.insert(file.sha256);
      StoreSlotFiles(app, slot);
    }
    if (!current || !current->has_value()) continue;
    seen.insert(app);
    auto watched = apps_.find(app);
    if (watched != apps_.end() && watched->second->slot == **current) continue;
    auto manifest = LoadSlotManifest(layout, **current);
    if (!manifest) {
      spdlog::warn("agent integrity_manifest_unreadable app={} slot={} error={}", app, **current,
                   LogValue(manifest.error().ToString()));
      continue;
    }
    Watch(app, **current, std::move(*manifest));
  }
  std::erase_if(apps_, [&](const auto& item) { return !seen.contains(item.first); });
  // Prune copies no staged or active release needs.
  for (const auto& entry : std::filesystem::directory_iterator(store_directory_, error)) {
    std::string name = entry.path().filename().string();
    auto bytes = FromHex(name);
    if (!bytes || bytes->size() != crypto::Sha256Digest{}.size()) continue;
    crypto::Sha256Digest digest{};
    std::ranges::copy(*bytes, digest.begin());
    if (!needed.contains(digest)) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

void IntegrityMonitor::StoreSlotFiles(const std::string& app, const std::string& slot) {
  AppLayout layout(options_.root, app);
  auto manifest = LoadSlotManifest(layout, slot);
  if (!manifest) return;
  for (const release::FileEntry& file : manifest->files) {
    if (store_->Contains(file.sha256)) continue;
    // One file at a time: a file already tampered with must not keep the others out.
    release::Manifest one = *manifest;
    one.files = {file};
    if (Status added = store_->AddRelease(one, layout.slot(slot)); !added) {
      spdlog::warn("agent integrity_pristine_copy_failed app={} path={} error={}", app, file.path,
                   LogValue(added.error().ToString()));
    }
  }
}

void IntegrityMonitor::Watch(const std::string& app, const std::string& slot,
                             release::Manifest manifest) {
  auto watched = std::make_unique<Watched>(io_context_, app);
  Watched& w = *watched;
  w.slot = slot;
  w.directory = std::filesystem::absolute(AppLayout(options_.root, app).slot(slot));
  w.manifest = std::move(manifest);
  w.burst_interval = options_.burst_interval_min;
  // The watcher first, then the scan: nothing changed in between goes unseen.
  auto watcher = integrity::Watcher::Start(w.directory);
  if (watcher) {
    w.watcher = std::move(*watcher);
    int fd = ::fcntl(w.watcher->fd(), F_DUPFD_CLOEXEC, 0);  // never inherited by the apps
    if (fd >= 0) w.stream = std::make_unique<asio::posix::stream_descriptor>(io_context_, fd);
  } else {
    spdlog::warn("agent integrity_watch_failed app={} error={} (periodic scans only)", app,
                 LogValue(watcher.error().ToString()));
  }
  apps_[app] = std::move(watched);  // replaces (and cancels) the previous release's
  spdlog::info("agent integrity_watch app={} version={} slot={} files={}", app, w.manifest.version,
               slot, w.manifest.files.size());
  if (w.stream) WaitForEvents(w);
  Check(w);  // the start-up scan
  if (!w.quarantined) SendSnapshot(w, "watching " + w.manifest.version);
}

void IntegrityMonitor::WaitForEvents(Watched& w) {
  w.stream->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, alive = alive_, token = w.token, &w](std::error_code error) {
                         if (!*alive || !*token || error) return;  // `w` may be gone
                         auto batch = w.watcher->Drain();
                         if (!batch) {
                           spdlog::warn("agent integrity_watch_read_failed app={} error={}", w.app,
                                        LogValue(batch.error().ToString()));
                           w.full_scan_pending = true;
                         } else {
                           if (batch->full_scan_needed) w.full_scan_pending = true;
                           w.pending.insert(batch->paths.begin(), batch->paths.end());
                         }
                         ScheduleCheck(w, options_.coalesce_window);
                         WaitForEvents(w);
                       });
}

void IntegrityMonitor::ScheduleCheck(Watched& w, milliseconds delay) {
  if (w.check_scheduled) return;
  if (w.tampered_before) {
    auto earliest = w.last_tamper + w.burst_interval;
    auto now = Clock::now();
    if (earliest > now) {
      delay = std::max(delay, std::chrono::duration_cast<milliseconds>(earliest - now));
    }
  }
  w.check_scheduled = true;
  w.check_timer.expires_after(delay);
  w.check_timer.async_wait([this, alive = alive_, token = w.token, &w](std::error_code error) {
    if (!*alive || !*token || error) return;
    w.check_scheduled = false;
    Check(w);
  });
}

Status IntegrityMonitor::FullScan(Watched& w) {
  w.pending.clear();
  w.full_scan_pending = false;
  ++counters_.full_scans;
  auto records = integrity::ScanTree(w.directory);
  if (!records) {
    w.full_scan_pending = true;
    return std::unexpected(records.error());
  }
  w.records = std::move(*records);
  w.have_records = true;
  return Ok();
}

Status IntegrityMonitor::RecheckPaths(Watched& w) {
  std::set<std::string> paths = std::move(w.pending);
  w.pending.clear();
  for (const std::string& path : paths) {
    ++counters_.path_checks;
    auto found = integrity::ScanPath(w.directory, path);
    if (!found) return std::unexpected(found.error());
    UpsertRecord(w.records, path, *found);
  }
  return Ok();
}

std::optional<std::string> IntegrityMonitor::ExecutableProblem(Watched& w) {
  auto pid = ReadPid(AppLayout(options_.root, w.app).pid());
  if (!pid) return std::nullopt;
  auto check = integrity::CheckProcessExecutable(*pid, w.directory, w.manifest);
  // An app that runs an interpreter from outside the slot (a script) is checked on disk only.
  if (!check || !check->relative_path || check->matches) return std::nullopt;
  return check->reason;
}

void IntegrityMonitor::Check(Watched& w) {
  if (hooks_.settled && !hooks_.settled(w.app)) {
    ScheduleCheck(w, milliseconds(100));  // the updater is switching releases
    return;
  }
  const bool full = w.full_scan_pending || !w.have_records;
  if (!full && w.pending.empty()) return;
  bool entry_touched = false;
  for (const std::string& argument : w.manifest.entry) {
    entry_touched |= w.pending.contains(SlotRelative(argument));
  }
  Status scanned = full ? FullScan(w) : RecheckPaths(w);
  if (!scanned) {
    spdlog::warn("agent integrity_scan_failed app={} error={}", w.app,
                 LogValue(scanned.error().ToString()));
    w.full_scan_pending = true;
    return;
  }
  std::optional<std::string> executable_problem;
  if (full || entry_touched) executable_problem = ExecutableProblem(w);
  if (w.pending_snapshot && !w.quarantined) {
    std::string detail = std::move(*w.pending_snapshot);
    w.pending_snapshot.reset();
    SendSnapshot(w, std::move(detail));
  }
  integrity::Snapshot snapshot = integrity::MakeSnapshot(w.manifest, w.records, options_.diff);
  if (snapshot.Clean() && !executable_problem) {
    w.last_alert_root.reset();
    if (w.quarantined) Release(w);
    return;
  }
  HandleDifferences(w, snapshot, executable_problem);
}

void IntegrityMonitor::HandleDifferences(Watched& w, const integrity::Snapshot& snapshot,
                                         const std::optional<std::string>& executable_problem) {
  const IntegrityPolicy policy = PolicyOf(w.app);
  // Alert-only and quarantine leave the tree as it is: report each state of it once.
  if (policy != IntegrityPolicy::kRepair && w.last_alert_root == snapshot.release_view_root) {
    return;
  }
  const auto now = Clock::now();
  w.burst_interval =
      w.tampered_before
          ? NextBurstInterval(w.burst_interval,
                              std::chrono::duration_cast<milliseconds>(now - w.last_tamper),
                              options_.burst_interval_min, options_.burst_interval_max)
          : options_.burst_interval_min;
  w.tampered_before = true;
  w.last_tamper = now;
  ++counters_.tamper_bursts;
  for (const auto& difference : snapshot.differences) ++w.counts[difference.path];

  std::string suffix;
  if (policy == IntegrityPolicy::kAlertOnly) suffix = " [alert-only]";
  if (policy == IntegrityPolicy::kQuarantine) suffix = " [quarantine: app stopped]";
  std::string prefix = executable_problem ? "running image: " + *executable_problem + "; " : "";
  const size_t room =
      limits::kAgentIntegrityDetailBytesMax -
      std::min(limits::kAgentIntegrityDetailBytesMax / 2, prefix.size() + suffix.size());
  std::string detail = (prefix + DescribeTamper(snapshot.differences, w.counts, room) + suffix)
                           .substr(0, limits::kAgentIntegrityDetailBytesMax);
  spdlog::warn("agent integrity_tamper app={} policy={} detail={}", w.app,
               IntegrityPolicyName(policy), LogValue(detail));
  Send({.report_kind = ledger::DeviceReportKind::kTamperDetected,
        .app = w.app,
        .version = w.manifest.version,
        .observed_time_ms = NowMs(),
        .snapshot_root = snapshot.release_view_root,
        .files_changed = static_cast<uint32_t>(snapshot.differences.size()),
        .duration_ms = 0,
        .detail = std::move(detail)});

  const bool restart =
      executable_problem.has_value() || NeedsRestart(w.manifest, snapshot.differences);
  switch (policy) {
    case IntegrityPolicy::kAlertOnly:
      w.last_alert_root = snapshot.release_view_root;
      return;
    case IntegrityPolicy::kQuarantine: {
      w.last_alert_root = snapshot.release_view_root;
      if (w.quarantined) return;
      w.quarantined = true;
      Supervisor* supervisor = hooks_.supervisor ? hooks_.supervisor(w.app) : nullptr;
      if (supervisor != nullptr && supervisor->supervising()) {
        w.quarantined_program = supervisor->program();
        supervisor->Stop(
            [app = w.app] { spdlog::warn("agent integrity_quarantined app={}", app); });
      }
      return;
    }
    case IntegrityPolicy::kRepair:
      RepairNow(w, snapshot, restart);
      return;
  }
}

void IntegrityMonitor::RepairNow(Watched& w, const integrity::Snapshot& snapshot, bool restart) {
  const auto started = Clock::now();
  integrity::RepairReport repair =
      integrity::Repair(w.directory, snapshot.differences, *store_, options_.repair);
  for (const auto& action : repair.actions) {
    auto found = integrity::ScanPath(w.directory, action.path);
    if (found) UpsertRecord(w.records, action.path, *found);
  }
  // The repair's own writes come back as watcher events; they re-check clean.
  integrity::Snapshot after = integrity::MakeSnapshot(w.manifest, w.records, options_.diff);
  const size_t restored = repair.Count(integrity::RepairOutcome::kRestored);
  const size_t deleted = repair.Count(integrity::RepairOutcome::kDeleted);
  const size_t needs_fetch = repair.Count(integrity::RepairOutcome::kNeedsFetch);
  counters_.files_repaired += restored + deleted;
  counters_.needs_fetch += needs_fetch;
  if (needs_fetch > 0 && hooks_.request_release && !w.release_requested) {
    w.release_requested = true;
    hooks_.request_release(w.app, w.manifest.version);
  }
  const std::string fetch_state = !hooks_.request_release ? "no gateway to fetch it from"
                                  : w.release_requested   ? "requested from the gateway"
                                                          : "fetching";
  std::vector<std::string> problems;
  for (const auto& action : repair.actions) {
    if (action.outcome == integrity::RepairOutcome::kNeedsFetch) {
      problems.push_back("needs fetch (" + fetch_state + "): " + action.path + " (" +
                         action.detail + ")");
    } else if (action.outcome == integrity::RepairOutcome::kFailed) {
      problems.push_back("failed: " + action.path + " (" + action.detail + ")");
    }
  }
  const bool restarting = restart && after.Clean();
  std::string renewed;
  if (w.copies_renewed > 0 && repair.Complete()) {
    renewed = " (" + std::to_string(w.copies_renewed) +
              " copies renewed from the release's bundle, fetched again from the gateway)";
    w.copies_renewed = 0;
  }
  std::string head = std::string(repair.Complete() ? "" : "incomplete: ") + "restored " +
                     std::to_string(restored) + " from the pristine store " +
                     store_directory_.string() + renewed + ", deleted " + std::to_string(deleted) +
                     (restarting ? "; app restarted" : "") + (after.Clean() ? "; clean" : "");
  if (!problems.empty()) head += "; ";
  std::string detail = JoinBounded(problems, head, limits::kAgentIntegrityDetailBytesMax);
  const auto duration = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  spdlog::info("agent integrity_repaired app={} restored={} deleted={} needs_fetch={} ms={}", w.app,
               restored, deleted, needs_fetch, duration.count());
  Send({.report_kind = ledger::DeviceReportKind::kRepaired,
        .app = w.app,
        .version = w.manifest.version,
        .observed_time_ms = NowMs(),
        .snapshot_root = after.release_view_root,
        .files_changed = static_cast<uint32_t>(restored + deleted),
        .duration_ms = static_cast<uint64_t>(duration.count()),
        .detail = std::move(detail)});
  if (restarting) RestartApp(w);
}

Status IntegrityMonitor::RestoreFromBundle(const std::string& app, const std::string& version,
                                           const crypto::Sha256Digest& manifest_root,
                                           const std::filesystem::path& bundle) {
  auto found = apps_.find(app);
  if (found == apps_.end()) {
    return Fail(ErrorCode::kNotFound, "no active release of " + app + " is watched");
  }
  Watched& w = *found->second;
  if (version != w.manifest.version || manifest_root != release::ManifestRoot(w.manifest)) {
    return Fail(ErrorCode::kRefused, "the bundle is " + app + " " + version + ", the active release is " +
                                         w.manifest.version);
  }
  // A scratch slot next to the real ones: unpacked and verified with the agent's own code,
  // its files copied into the store (each checked against its digest again), then deleted.
  AppLayout layout(options_.root, app);
  const std::string scratch = "refetch-" + w.slot;
  (void)DeleteSlot(layout, scratch);  // left over from a crash
  auto installed = InstallSlot(layout, scratch, bundle, manifest_root);
  if (!installed) {
    return std::unexpected(installed.error().WithContext("unpacking the re-fetched bundle"));
  }
  Status added = store_->AddRelease(installed->manifest, layout.slot(scratch));
  (void)DeleteSlot(layout, scratch);
  VIGIL_RETURN_IF_ERROR(added);
  ++counters_.bundles_refetched;
  w.release_requested = false;
  w.copies_renewed = installed->manifest.files.size();
  spdlog::info("agent integrity_pristine_renewed app={} version={} files={}", app, version,
               w.copies_renewed);
  // The tampering was reported already: repair what is still different, without a second
  // `tamper detected` for the same change.
  if ((hooks_.settled && !hooks_.settled(w.app)) || w.quarantined ||
      PolicyOf(w.app) != IntegrityPolicy::kRepair) {
    w.full_scan_pending = true;
    ScheduleCheck(w, milliseconds(0));
    return Ok();
  }
  VIGIL_RETURN_IF_ERROR(FullScan(w));
  integrity::Snapshot snapshot = integrity::MakeSnapshot(w.manifest, w.records, options_.diff);
  if (!snapshot.Clean()) RepairNow(w, snapshot, NeedsRestart(w.manifest, snapshot.differences));
  return Ok();
}

void IntegrityMonitor::RestartApp(Watched& w) {
  Supervisor* supervisor = hooks_.supervisor ? hooks_.supervisor(w.app) : nullptr;
  if (supervisor == nullptr || !supervisor->supervising()) return;
  ++counters_.restarts;
  Program program = *supervisor->program();
  supervisor->Stop([alive = alive_, supervisor, program, app = w.app] {
    if (!*alive) return;
    if (Status started = supervisor->Start(program); !started) {
      spdlog::error("agent integrity_restart_failed app={} error={}", app,
                    LogValue(started.error().ToString()));
    }
  });
}

void IntegrityMonitor::Release(Watched& w) {
  w.quarantined = false;
  std::optional<Program> program = std::move(w.quarantined_program);
  w.quarantined_program.reset();
  Supervisor* supervisor = hooks_.supervisor ? hooks_.supervisor(w.app) : nullptr;
  if (program && supervisor != nullptr && !supervisor->supervising()) {
    if (Status started = supervisor->Start(*program); !started) {
      spdlog::error("agent integrity_release_failed app={} error={}", w.app,
                    LogValue(started.error().ToString()));
    }
  }
  SendSnapshot(w, "clean again: quarantine lifted, app started");
}

void IntegrityMonitor::ReportSnapshot(const std::string& app, std::string reason) {
  auto found = apps_.find(app);
  if (found == apps_.end()) return;
  Watched& w = *found->second;
  Check(w);
  if (!w.quarantined) SendSnapshot(w, std::move(reason));
}

void IntegrityMonitor::SendSnapshot(Watched& w, std::string detail) {
  if (!w.have_records) {  // the first scan waits (the updater is switching): report after it
    w.pending_snapshot = std::move(detail);
    return;
  }
  integrity::Snapshot snapshot = integrity::MakeSnapshot(w.manifest, w.records, options_.diff);
  detail += snapshot.Clean() ? "; clean"
                             : "; " + std::to_string(snapshot.differences.size()) + " differences";
  if (w.quarantined) detail += "; quarantined";
  Send({.report_kind = ledger::DeviceReportKind::kIntegritySnapshot,
        .app = w.app,
        .version = w.manifest.version,
        .observed_time_ms = NowMs(),
        .snapshot_root = snapshot.release_view_root,
        .files_changed = static_cast<uint32_t>(snapshot.differences.size()),
        .duration_ms = 0,
        .detail = detail.substr(0, limits::kAgentIntegrityDetailBytesMax)});
}

void IntegrityMonitor::Send(ledger::DeviceReport report) {
  ++counters_.reports;
  if (hooks_.sink) hooks_.sink(report, [] {});
}

}  // namespace vigil::agent
