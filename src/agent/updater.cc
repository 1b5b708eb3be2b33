#include "agent/updater.h"

#include <algorithm>
#include <array>
#include <utility>

#include "codec/codec.h"
#include "common/limits.h"

namespace vigil::agent {
namespace {

using State = UpdaterState;
using ledger::DeviceReportKind;

constexpr std::array<std::string_view, kUpdaterStateLast + 1> kStateNames = {
    "",
    "idle",
    "unpacking",
    "staged",
    "stopping-old",
    "switching",
    "starting-new",
    "health-checking",
    "committing",
    "rolling-back-stopping",
    "rolling-back-switching",
    "rolling-back-starting",
    "rolled-back",
    "pre-activating",
    "post-activating",
};

// Slot names are at most a version, '-', and the digest prefix.
constexpr size_t kSlotNameBytesMax = limits::kLedgerVersionBytesMax + 1 + 64;

// --- Action builders ---
Action Unpack(const UpdaterRecord& r) {
  return {.kind = ActionKind::kUnpack, .slot = r.to.slot, .previous_slot = "",
          .bundle_path = r.bundle_path, .report = {}};
}
Action Simple(ActionKind kind, std::string slot = "") {
  return {.kind = kind, .slot = std::move(slot), .previous_slot = "", .bundle_path = "",
          .report = {}};
}
Action DeleteBundle(const UpdaterRecord& r) {
  return {.kind = ActionKind::kDeleteBundle, .slot = "", .previous_slot = "",
          .bundle_path = r.bundle_path, .report = {}};
}
Action Switch(std::string slot, std::string previous_slot) {
  return {.kind = ActionKind::kSwitchCurrent, .slot = std::move(slot),
          .previous_slot = std::move(previous_slot), .bundle_path = "", .report = {}};
}
// Activation points `current` at the new slot and keeps the old one as `previous`; a
// rollback points `current` back and forgets `previous` (the failed slot is garbage).
Action SwitchToNew(const UpdaterRecord& r) { return Switch(r.to.slot, r.from.slot); }
Action SwitchToOld(const UpdaterRecord& r) { return Switch(r.from.slot, ""); }
Action StartApp(const ReleaseRef& release) { return Simple(ActionKind::kStartApp, release.slot); }

// Cuts `text` to at most `bytes_max` bytes without splitting a UTF-8 sequence (the encoder
// refuses invalid UTF-8, and reasons carry text from the OS and from app output).
std::string Truncate(std::string text, size_t bytes_max) {
  if (text.size() <= bytes_max) return text;
  size_t cut = bytes_max;
  while (cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

uint64_t ElapsedMs(int64_t start_ms, int64_t end_ms) {
  return end_ms > start_ms ? static_cast<uint64_t>(end_ms - start_ms) : 0;
}

Action Report(const UpdaterRecord& r, DeviceReportKind kind) {
  ledger::DeviceReport report{.report_kind = kind, .app = r.app, .version = r.to.version,
                              .observed_time_ms = 0, .snapshot_root = std::nullopt,
                              .files_changed = 0, .duration_ms = 0, .detail = ""};
  const StageTimes& t = r.times;
  switch (kind) {
    case DeviceReportKind::kInstalled:
      report.observed_time_ms = t.install_finished_ms;
      report.duration_ms = ElapsedMs(t.install_started_ms, t.install_finished_ms);
      report.detail = "transmission_ms=" + std::to_string(t.transmission_ms) +
                      " verification_ms=" + std::to_string(t.verification_ms);
      break;
    case DeviceReportKind::kActivated:
      report.observed_time_ms = t.restart_finished_ms;
      report.duration_ms = ElapsedMs(t.restart_started_ms, t.restart_finished_ms);
      report.detail = Truncate(r.reason, limits::kLedgerDetailBytesMax);
      break;
    default:  // kRolledBack: the version that failed, and why
      report.observed_time_ms = t.restart_finished_ms;
      report.duration_ms = ElapsedMs(t.restart_started_ms, t.restart_finished_ms);
      report.detail = Truncate(r.reason, limits::kLedgerDetailBytesMax);
      break;
  }
  return {.kind = ActionKind::kSendReport, .slot = "", .previous_slot = "", .bundle_path = "",
          .report = std::move(report)};
}

// Rolled back: `to` is remembered as a version not to want again (once, oldest forgotten first).
void RememberRolledBack(UpdaterRecord& r) {
  auto& versions = r.rolled_back_versions;
  if (r.to.empty() || std::ranges::find(versions, r.to.version) != versions.end()) return;
  versions.push_back(r.to.version);
  if (versions.size() > limits::kAgentRolledBackVersionsMax) versions.erase(versions.begin());
}

Transition Go(UpdaterRecord record, State state, std::vector<Action> actions) {
  record.state = state;
  if (state == State::kRolledBack) RememberRolledBack(record);
  return {.record = std::move(record), .actions = std::move(actions), .changed = true};
}

// Idle (or Staged, replacing what was staged) → Unpacking the new bundle.
Transition BeginInstall(UpdaterRecord r, const Event& e) {
  std::vector<Action> actions;
  if (r.state == State::kStaged && r.to.slot != e.release.slot) {
    actions.push_back(Simple(ActionKind::kDeleteSlot, r.to.slot));
    if (r.bundle_path != e.bundle_path) actions.push_back(DeleteBundle(r));
  }
  r.to = e.release;
  r.bundle_path = e.bundle_path;
  r.attempt = 0;
  r.reason.clear();
  r.times = StageTimes{};
  r.times.bundle_received_ms = e.now_ms;
  r.times.install_started_ms = e.now_ms;
  r.times.transmission_ms = e.transmission_ms;
  actions.push_back(Simple(ActionKind::kDeleteSlot, r.to.slot));  // a partial from before
  actions.push_back(Unpack(r));
  return Go(std::move(r), State::kUnpacking, std::move(actions));
}

// Any failure after `current` may have moved: stop the new version, then switch back.
Transition BeginRollback(UpdaterRecord r, const Event& e) {
  r.reason = Truncate(e.reason, limits::kLedgerReasonBytesMax);
  return Go(std::move(r), State::kRollingBackStopping, {Simple(ActionKind::kStopApp)});
}

// A failure before anything was stopped: `from` still runs; report `rolled back` with why.
Transition RefuseActivation(UpdaterRecord r, int64_t now_ms, std::string reason) {
  r.reason = Truncate(std::move(reason), limits::kLedgerReasonBytesMax);
  r.times.restart_finished_ms = now_ms;
  Action report = Report(r, DeviceReportKind::kRolledBack);
  return Go(std::move(r), State::kRolledBack, {std::move(report)});
}

Transition BackToIdle(UpdaterRecord r, std::vector<Action> actions) {
  r.to = ReleaseRef{};
  r.bundle_path.clear();
  r.attempt = 0;
  actions.push_back(Simple(ActionKind::kCollectGarbage));
  return Go(std::move(r), State::kIdle, std::move(actions));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// THE TABLE. One case per state; within it, the events that apply. Anything else: unchanged.
// docs/agent.md#state-table mirrors this block; change both together.
// ---------------------------------------------------------------------------------------------
Transition Next(const UpdaterRecord& record, const Event& e) {
  UpdaterRecord r = record;
  using K = EventKind;
  switch (record.state) {
    case State::kIdle:
      if (e.kind == K::kBundleReady) return BeginInstall(std::move(r), e);
      break;
    case State::kUnpacking:
      if (e.kind == K::kUnpacked) {
        r.times.install_finished_ms = e.now_ms;
        r.times.verification_ms = e.verification_ms;
        // The installed report is the last action: re-sent on recovery (at least once).
        Action report = Report(r, DeviceReportKind::kInstalled);
        return Go(std::move(r), State::kStaged, {DeleteBundle(record), std::move(report)});
      }
      if (e.kind == K::kUnpackFailed) {
        r.reason = Truncate("install of " + r.to.version + " failed: " + e.reason,
                            limits::kLedgerReasonBytesMax);
        return BackToIdle(std::move(r),
                          {Simple(ActionKind::kDeleteSlot, record.to.slot), DeleteBundle(record)});
      }
      break;
    case State::kStaged:
      if (e.kind == K::kBundleReady) return BeginInstall(std::move(r), e);
      if (e.kind == K::kActivate) {
        r.times.restart_started_ms = e.now_ms;
        // Why it activates now (a coordinated activation's block): the activated report's detail.
        r.reason = Truncate(e.reason, limits::kLedgerReasonBytesMax);
        return Go(std::move(r), State::kPreActivating,
                  {Simple(ActionKind::kRunPreActivate, record.to.slot)});
      }
      break;
    case State::kPreActivating:
      if (e.kind == K::kHookPassed) {
        return Go(std::move(r), State::kStoppingOld, {Simple(ActionKind::kStopApp)});
      }
      if (e.kind == K::kHookFailed) {
        // Nothing was stopped or switched: `from` never stopped running. Refused.
        return RefuseActivation(std::move(r), e.now_ms,
                                record.to.version + " refused: " + e.reason);
      }
      break;
    case State::kStoppingOld:
      if (e.kind == K::kAppStopped) {
        return Go(std::move(r), State::kSwitching, {SwitchToNew(record)});
      }
      break;
    case State::kSwitching:
      if (e.kind == K::kSwitched) {
        return Go(std::move(r), State::kPostActivating,
                  {Simple(ActionKind::kRunPostActivate, record.to.slot)});
      }
      if (e.kind == K::kSwitchFailed) {
        r.reason = Truncate("switching to " + r.to.version + " failed: " + e.reason,
                            limits::kLedgerReasonBytesMax);
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      break;
    case State::kPostActivating:
      if (e.kind == K::kHookPassed) {
        return Go(std::move(r), State::kStartingNew, {StartApp(record.to)});
      }
      if (e.kind == K::kHookFailed) {
        // `current` is the new slot but nothing runs yet: switch back and start `from`.
        r.reason = Truncate(r.to.version + " failed: " + e.reason, limits::kLedgerReasonBytesMax);
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      break;
    case State::kStartingNew:
      if (e.kind == K::kAppStarted) {
        return Go(std::move(r), State::kHealthChecking,
                  {Simple(ActionKind::kRunHealthCheck, record.to.slot)});
      }
      if (e.kind == K::kStartFailed) {
        return BeginRollback(std::move(r), {.kind = e.kind, .now_ms = e.now_ms,
                                            .reason = r.to.version + " did not start: " + e.reason,
                                            .release = {}, .bundle_path = "",
                                            .transmission_ms = 0, .verification_ms = 0});
      }
      break;
    case State::kHealthChecking:
      if (e.kind == K::kHealthPassed) {
        r.times.restart_finished_ms = e.now_ms;
        Action report = Report(r, DeviceReportKind::kActivated);
        return Go(std::move(r), State::kCommitting, {std::move(report)});
      }
      if (e.kind == K::kHealthFailed) {
        return BeginRollback(std::move(r), {.kind = e.kind, .now_ms = e.now_ms,
                                            .reason = r.to.version + " failed its health check: " +
                                                      e.reason,
                                            .release = {}, .bundle_path = "",
                                            .transmission_ms = 0, .verification_ms = 0});
      }
      break;
    case State::kCommitting:
      if (e.kind == K::kReportAccepted) {
        r.from = r.to;
        r.reason.clear();
        return BackToIdle(std::move(r), {});
      }
      break;
    case State::kRollingBackStopping:
      if (e.kind == K::kAppStopped) {
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      break;
    case State::kRollingBackSwitching:
      if (e.kind == K::kSwitched) {
        return Go(std::move(r), State::kRollingBackStarting, {StartApp(record.from)});
      }
      if (e.kind == K::kSwitchFailed) {
        // Switching back is the safe direction: retry it (the shell paces retries).
        r.reason += "; switching back failed once: " + e.reason;
        r.reason = Truncate(std::move(r.reason), limits::kLedgerReasonBytesMax);
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      break;
    case State::kRollingBackStarting:
      if (e.kind == K::kAppStarted || e.kind == K::kStartFailed) {
        if (e.kind == K::kStartFailed) {
          r.reason += "; the previous version did not start either: " + e.reason;
          r.reason = Truncate(std::move(r.reason), limits::kLedgerReasonBytesMax);
        }
        r.times.restart_finished_ms = e.now_ms;
        Action report = Report(r, DeviceReportKind::kRolledBack);
        return Go(std::move(r), State::kRolledBack, {std::move(report)});
      }
      break;
    case State::kRolledBack:
      if (e.kind == K::kReportAccepted) return BackToIdle(std::move(r), {});
      break;
  }
  return {.record = record, .actions = {}, .changed = false};
}

// ---------------------------------------------------------------------------------------------
// RECOVERY after a crash in each state. No app process runs when these actions begin. Forward
// progress is bounded by `attempt` (agent restarts during one update): past
// limits::kAgentStepAttemptsMax an install is abandoned and an activation rolls back.
// ---------------------------------------------------------------------------------------------
Transition Recover(const UpdaterRecord& record) {
  UpdaterRecord r = record;
  const bool attempts_left = record.attempt < limits::kAgentStepAttemptsMax;
  if (record.state != State::kIdle) ++r.attempt;
  const std::string gave_up = "the agent restarted " + std::to_string(r.attempt) +
                              " times during the update of " + record.to.version;
  switch (record.state) {
    case State::kIdle:
      return Go(std::move(r), State::kIdle, {StartApp(record.from)});
    case State::kUnpacking:
      if (!attempts_left) {
        r.reason = gave_up;
        return BackToIdle(std::move(r), {StartApp(record.from),
                                         Simple(ActionKind::kDeleteSlot, record.to.slot),
                                         DeleteBundle(record)});
      }
      return Go(std::move(r), State::kUnpacking,
                {StartApp(record.from), Simple(ActionKind::kDeleteSlot, record.to.slot),
                 Unpack(record)});
    case State::kStaged:
      return Go(std::move(r), State::kStaged,
                {StartApp(record.from), Report(record, DeviceReportKind::kInstalled)});
    case State::kPreActivating:  // the hook's verdict is lost: run it again beside `from`
      if (!attempts_left) {
        r.reason = gave_up;
        r.times.restart_finished_ms = record.times.restart_started_ms;
        Action report = Report(r, DeviceReportKind::kRolledBack);
        return Go(std::move(r), State::kRolledBack, {StartApp(record.from), std::move(report)});
      }
      return Go(std::move(r), State::kPreActivating,
                {StartApp(record.from), Simple(ActionKind::kRunPreActivate, record.to.slot)});
    case State::kPostActivating:  // `current` is the new slot; nothing runs: run the hook again
      if (!attempts_left) {
        r.reason = gave_up;
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      return Go(std::move(r), State::kPostActivating,
                {Simple(ActionKind::kRunPostActivate, record.to.slot)});
    case State::kStoppingOld:  // the old version is already stopped: switch
    case State::kSwitching:    // `current` is old or new: switching again settles it
      if (!attempts_left) {
        r.reason = gave_up;
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      return Go(std::move(r), State::kSwitching, {SwitchToNew(record)});
    case State::kStartingNew:     // `current` is the new slot; nothing runs: start it
    case State::kHealthChecking:  // the check's verdict is lost: start and check again
      if (!attempts_left) {
        r.reason = gave_up;
        return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
      }
      return Go(std::move(r), State::kStartingNew, {StartApp(record.to)});
    case State::kCommitting:  // the new version passed: run it, report again
      return Go(std::move(r), State::kCommitting,
                {StartApp(record.to), Report(record, DeviceReportKind::kActivated)});
    case State::kRollingBackStopping:  // stopped by the crash: switch back
    case State::kRollingBackSwitching:
      return Go(std::move(r), State::kRollingBackSwitching, {SwitchToOld(record)});
    case State::kRollingBackStarting:
      return Go(std::move(r), State::kRollingBackStarting, {StartApp(record.from)});
    case State::kRolledBack:
      return Go(std::move(r), State::kRolledBack,
                {StartApp(record.from), Report(record, DeviceReportKind::kRolledBack)});
  }
  VIGIL_ASSERT(false && "unknown updater state");
  return {};
}

UpdaterRecord InitialRecord(std::string app) {
  UpdaterRecord record;
  record.app = std::move(app);
  return record;
}

// --- Names ---

std::string_view UpdaterStateName(UpdaterState state) {
  auto index = static_cast<uint8_t>(state);
  if (index < kUpdaterStateFirst || index > kUpdaterStateLast) return "unknown";
  return kStateNames[index];
}

Expected<UpdaterState> ParseUpdaterState(std::string_view name) {
  for (uint8_t i = kUpdaterStateFirst; i <= kUpdaterStateLast; ++i) {
    if (kStateNames[i] == name) return static_cast<UpdaterState>(i);
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown updater state '" + std::string(name) + "'");
}

std::vector<UpdaterState> AllUpdaterStates() {
  std::vector<UpdaterState> states;
  for (uint8_t i = kUpdaterStateFirst; i <= kUpdaterStateLast; ++i) {
    states.push_back(static_cast<UpdaterState>(i));
  }
  return states;
}

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kBundleReady: return "bundle-ready";
    case EventKind::kActivate: return "activate";
    case EventKind::kUnpacked: return "unpacked";
    case EventKind::kUnpackFailed: return "unpack-failed";
    case EventKind::kAppStopped: return "app-stopped";
    case EventKind::kSwitched: return "switched";
    case EventKind::kSwitchFailed: return "switch-failed";
    case EventKind::kAppStarted: return "app-started";
    case EventKind::kStartFailed: return "start-failed";
    case EventKind::kHealthPassed: return "health-passed";
    case EventKind::kHealthFailed: return "health-failed";
    case EventKind::kReportAccepted: return "report-accepted";
    case EventKind::kHookPassed: return "hook-passed";
    case EventKind::kHookFailed: return "hook-failed";
  }
  return "unknown";
}

std::string_view ActionKindName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kUnpack: return "unpack";
    case ActionKind::kDeleteSlot: return "delete-slot";
    case ActionKind::kDeleteBundle: return "delete-bundle";
    case ActionKind::kStopApp: return "stop-app";
    case ActionKind::kSwitchCurrent: return "switch-current";
    case ActionKind::kStartApp: return "start-app";
    case ActionKind::kRunHealthCheck: return "run-health-check";
    case ActionKind::kSendReport: return "send-report";
    case ActionKind::kCollectGarbage: return "collect-garbage";
    case ActionKind::kRunPreActivate: return "run-pre-activate";
    case ActionKind::kRunPostActivate: return "run-post-activate";
  }
  return "unknown";
}

bool HasOutcome(ActionKind kind) {
  switch (kind) {
    case ActionKind::kDeleteSlot:
    case ActionKind::kDeleteBundle:
    case ActionKind::kCollectGarbage:
      return false;
    default:
      return true;
  }
}

// --- Encoding ---

bool IsValidSlotName(std::string_view name) {
  if (name.empty() || name.size() > kSlotNameBytesMax || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '+' || c == '_';
    if (!ok) return false;
  }
  return true;
}

namespace {

void WriteRelease(codec::Encoder& encoder, const ReleaseRef& release) {
  encoder.WriteString(release.version);
  encoder.WriteFixed(release.bundle_digest);
  encoder.WriteFixed(release.manifest_root);
  encoder.WriteString(release.slot);
}

Expected<ReleaseRef> ReadRelease(codec::Decoder& decoder) {
  ReleaseRef release;
  VIGIL_ASSIGN_OR_RETURN(release.version,
                         decoder.ReadString("version", limits::kLedgerVersionBytesMax));
  VIGIL_ASSIGN_OR_RETURN(release.bundle_digest,
                         decoder.ReadFixed<limits::kSha256DigestBytes>("bundle_digest"));
  VIGIL_ASSIGN_OR_RETURN(release.manifest_root,
                         decoder.ReadFixed<limits::kSha256DigestBytes>("manifest_root"));
  VIGIL_ASSIGN_OR_RETURN(release.slot, decoder.ReadString("slot", kSlotNameBytesMax));
  return release;
}

Status CheckRelease(std::string_view field, const ReleaseRef& release) {
  if (release.empty()) {
    if (!release.slot.empty()) {
      return Fail(ErrorCode::kCorruption, std::string(field) + " has a slot but no version");
    }
    return Ok();
  }
  if (!IsValidSlotName(release.slot)) {
    return Fail(ErrorCode::kCorruption,
                std::string(field) + " slot '" + release.slot + "' is not a plain slot name");
  }
  return Ok();
}

Expected<UpdaterRecord> ReadRecord(codec::Decoder& decoder) {
  UpdaterRecord record;
  VIGIL_ASSIGN_OR_RETURN(uint16_t format, decoder.ReadU16("format_version"));
  if (format != 1 && format != kUpdaterRecordFormat) {
    return Fail(ErrorCode::kCorruption, "updater record format " + std::to_string(format) +
                                            " is not a supported format (1 or " +
                                            std::to_string(kUpdaterRecordFormat) + ")");
  }
  VIGIL_ASSIGN_OR_RETURN(record.app, decoder.ReadString("app", limits::kLedgerNameBytesMax));
  VIGIL_ASSIGN_OR_RETURN(uint8_t state, decoder.ReadU8("state"));
  if (state < kUpdaterStateFirst || state > kUpdaterStateLast) {
    return Fail(ErrorCode::kCorruption, "unknown updater state " + std::to_string(state));
  }
  record.state = static_cast<UpdaterState>(state);
  auto from = ReadRelease(decoder);
  if (!from) return std::unexpected(from.error().WithContext("from"));
  record.from = std::move(*from);
  auto to = ReadRelease(decoder);
  if (!to) return std::unexpected(to.error().WithContext("to"));
  record.to = std::move(*to);
  VIGIL_ASSIGN_OR_RETURN(record.bundle_path,
                         decoder.ReadString("bundle_path", limits::kAgentPathBytesMax));
  VIGIL_ASSIGN_OR_RETURN(record.attempt, decoder.ReadU32("attempt"));
  VIGIL_ASSIGN_OR_RETURN(record.reason, decoder.ReadString("reason", limits::kLedgerReasonBytesMax));
  StageTimes& t = record.times;
  VIGIL_ASSIGN_OR_RETURN(t.bundle_received_ms, decoder.ReadI64("bundle_received_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.install_started_ms, decoder.ReadI64("install_started_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.install_finished_ms, decoder.ReadI64("install_finished_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.restart_started_ms, decoder.ReadI64("restart_started_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.restart_finished_ms, decoder.ReadI64("restart_finished_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.transmission_ms, decoder.ReadU64("transmission_ms"));
  VIGIL_ASSIGN_OR_RETURN(t.verification_ms, decoder.ReadU64("verification_ms"));
  if (format >= 2) {
    VIGIL_ASSIGN_OR_RETURN(
        record.rolled_back_versions,
        decoder.ReadVector("rolled_back_versions", limits::kAgentRolledBackVersionsMax,
                           [](codec::Decoder& d) {
                             return d.ReadString("version", limits::kLedgerVersionBytesMax);
                           }));
  }
  return record;  // a format 1 record is re-encoded as the current format
}

}  // namespace

Status CheckRecord(const UpdaterRecord& record) {
  if (record.app.empty()) return Fail(ErrorCode::kCorruption, "updater record without an app");
  VIGIL_RETURN_IF_ERROR(CheckRelease("from", record.from));
  VIGIL_RETURN_IF_ERROR(CheckRelease("to", record.to));
  const bool idle = record.state == UpdaterState::kIdle;
  if (idle != record.to.empty()) {
    return Fail(ErrorCode::kCorruption,
                std::string("updater record in state ") +
                    std::string(UpdaterStateName(record.state)) +
                    (idle ? " names a release in flight" : " names no release in flight"));
  }
  if (record.reason.size() > limits::kLedgerReasonBytesMax) {
    return Fail(ErrorCode::kCorruption, "updater record reason too long");
  }
  const auto& versions = record.rolled_back_versions;
  if (versions.size() > limits::kAgentRolledBackVersionsMax) {
    return Fail(ErrorCode::kCorruption, "updater record remembers more than " +
                                            std::to_string(limits::kAgentRolledBackVersionsMax) +
                                            " rolled-back versions");
  }
  for (size_t i = 0; i < versions.size(); ++i) {
    if (versions[i].empty() || versions[i].size() > limits::kLedgerVersionBytesMax ||
        std::find(versions.begin(), versions.begin() + static_cast<std::ptrdiff_t>(i),
                  versions[i]) != versions.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Fail(ErrorCode::kCorruption,
                  "updater record has an empty, oversized or repeated rolled-back version");
    }
  }
  return Ok();
}

Bytes EncodeRecord(const UpdaterRecord& record) {
  codec::Encoder encoder;
  encoder.WriteU16(kUpdaterRecordFormat);
  encoder.WriteString(record.app);
  encoder.WriteU8(static_cast<uint8_t>(record.state));
  WriteRelease(encoder, record.from);
  WriteRelease(encoder, record.to);
  encoder.WriteString(record.bundle_path);
  encoder.WriteU32(record.attempt);
  encoder.WriteString(record.reason);
  const StageTimes& t = record.times;
  encoder.WriteI64(t.bundle_received_ms);
  encoder.WriteI64(t.install_started_ms);
  encoder.WriteI64(t.install_finished_ms);
  encoder.WriteI64(t.restart_started_ms);
  encoder.WriteI64(t.restart_finished_ms);
  encoder.WriteU64(t.transmission_ms);
  encoder.WriteU64(t.verification_ms);
  encoder.WriteVector(record.rolled_back_versions,
                      [](codec::Encoder& e, const std::string& version) { e.WriteString(version); });
  return std::move(encoder).Take();
}

Expected<UpdaterRecord> DecodeRecord(ByteSpan bytes) {
  if (bytes.size() > limits::kAgentRecordBytesMax) {
    return Fail(ErrorCode::kCorruption, "updater record of " + std::to_string(bytes.size()) +
                                            " bytes exceeds the limit");
  }
  auto record = codec::DecodeExactly(bytes, ReadRecord);
  if (!record) return std::unexpected(record.error().WithContext("decoding updater record"));
  if (auto status = CheckRecord(*record); !status) {
    return std::unexpected(status.error().WithContext("decoding updater record"));
  }
  return record;
}

}  // namespace vigil::agent
