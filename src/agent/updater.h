// The device agent's updater: an explicit, pure state table (STYLE.md rule 8, docs/agent.md).
//
// One UpdaterRecord per app says where an update of that app stands. `Next(record, event)`
// returns the next record and the actions the I/O shell (UpdaterRunner) must execute;
// `Recover(record)` returns what to do after the agent restarts in that state (kill -9, power
// loss). Nothing here touches the disk, the clock or a process: times come in with events.
//
// The shell's contract, which is what makes every state safe to crash in:
//   1. persist the returned record (WriteFileAtomically) BEFORE executing any action;
//   2. execute the actions in order; every action but the last is best effort (a failure is
//      logged and ignored: they are idempotent clean-ups or a start the supervisor retries);
//   3. feed the outcome of the LAST action back as the next event (Unpack → kUnpacked or
//      kUnpackFailed, StopApp → kAppStopped, ...), unless it is a clean-up with no outcome.
// Every action is idempotent, so re-executing the actions of a persisted state after a crash
// is always allowed; Recover never needs to know how far the actions got.
//
// On-disk invariants the actions keep (docs/agent.md#layout): a slot directory exists only
// once it is complete and verified (unpacked under a temporary name, renamed durably), and
// `current` is a symlink replaced by rename, so after any crash it names one complete slot.
//
// Thread-safety: pure functions over value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"

namespace vigil::agent {

// DO NOT CHANGE the numeric values: they are persisted in updater records.
enum class UpdaterState : uint8_t {
  kIdle = 1,                  // `from` runs (or nothing); nothing in flight
  kUnpacking = 2,             // `to` is being unpacked and verified into its slot
  kStaged = 3,                // `to` is complete in its slot; `installed` reported; awaits Activate
  kStoppingOld = 4,           // activation: stopping `from`
  kSwitching = 5,             // `current` → to's slot, `previous` → from's slot
  kStartingNew = 6,           // starting `to`
  kHealthChecking = 7,        // `to` runs; its health check decides
  kCommitting = 8,            // `to` passed: reporting `activated`
  kRollingBackStopping = 9,   // `to` failed: stopping it
  kRollingBackSwitching = 10, // `current` → from's slot again
  kRollingBackStarting = 11,  // starting `from` again
  kRolledBack = 12,           // `from` runs again: reporting `rolled back` with the reason
  kPreActivating = 13,        // activation: `to`'s pre_activate hook runs; `from` still runs
  kPostActivating = 14,       // `current` is `to`'s slot; its post_activate hook runs
};
inline constexpr uint8_t kUpdaterStateFirst = 1;
inline constexpr uint8_t kUpdaterStateLast = 14;
std::string_view UpdaterStateName(UpdaterState state);  // "idle", "unpacking", ...
Expected<UpdaterState> ParseUpdaterState(std::string_view name);
std::vector<UpdaterState> AllUpdaterStates();

// A release as the updater knows it. An empty version means "none" (e.g. before the first
// install, `from` is empty).
struct ReleaseRef {
  std::string version;
  crypto::Sha256Digest bundle_digest{};
  crypto::Sha256Digest manifest_root{};
  std::string slot;  // the slot directory's name under <root>/apps/<app>/slots/
  bool empty() const { return version.empty(); }
  friend bool operator==(const ReleaseRef&, const ReleaseRef&) = default;
};

// Timestamps (device clock, ms since the epoch; 0 = not yet) for seed 001's stage table.
struct StageTimes {
  int64_t bundle_received_ms = 0;  // the downloaded bundle was handed to the updater
  int64_t install_started_ms = 0;
  int64_t install_finished_ms = 0;  // unpacked and every file verified
  int64_t restart_started_ms = 0;   // activation began (stopping the old version)
  int64_t restart_finished_ms = 0;  // the new version passed (or the old one is back)
  uint64_t transmission_ms = 0;     // the download from the gateway
  uint64_t verification_ms = 0;     // verifying every unpacked file against the manifest
  friend bool operator==(const StageTimes&, const StageTimes&) = default;
};

// DO NOT CHANGE: bump it when the encoding changes, and decode the old one.
// Format 2 added `rolled_back_versions`; a format 1 record decodes with none and is written
// back as format 2 (EncodeRecord always writes this format).
inline constexpr uint16_t kUpdaterRecordFormat = 2;

struct UpdaterRecord {
  std::string app;
  UpdaterState state = UpdaterState::kIdle;
  ReleaseRef from;          // what ran before this update (and runs again after a rollback)
  ReleaseRef to;            // what is being installed or activated; empty when idle
  std::string bundle_path;  // the verified download `to` is unpacked from
  uint32_t attempt = 0;     // agent restarts during this update (limits::kAgentStepAttemptsMax)
  std::string reason;       // why the last update failed or rolled back; empty otherwise
  StageTimes times;
  // Versions that rolled back here, oldest first (at most limits::kAgentRolledBackVersionsMax):
  // never wanted again, across agent restarts too (the gateway offers the newest release on
  // every Hello, and trying a known-bad version again would stop the app each time).
  std::vector<std::string> rolled_back_versions;
  friend bool operator==(const UpdaterRecord&, const UpdaterRecord&) = default;
};

// Canonical encoding (codec.h). Decoding is strict: limits, known state, slot names that are
// plain names (never a path), and the record's own invariants (CheckRecord).
Bytes EncodeRecord(const UpdaterRecord& record);
Expected<UpdaterRecord> DecodeRecord(ByteSpan bytes);
Status CheckRecord(const UpdaterRecord& record);

// A slot name is a version and a digest prefix: "1.4.0-3fa9c1d20b7e". Never '/', never
// starting with '.', so a corrupted record cannot name a path outside the slots directory.
bool IsValidSlotName(std::string_view name);

enum class EventKind : uint8_t {
  kBundleReady,    // a verified bundle of `release` was downloaded (Install)
  kActivate,       // switch to the staged release now (Activate)
  kUnpacked,       // Unpack succeeded; `verification_ms` filled
  kUnpackFailed,   // with `reason`
  kAppStopped,     // StopApp finished (the group is gone)
  kSwitched,       // SwitchCurrent is durable
  kSwitchFailed,   // with `reason`
  kAppStarted,     // StartApp spawned the process
  kStartFailed,    // with `reason`
  kHealthPassed,
  kHealthFailed,   // with `reason`
  kReportAccepted, // the report sink took the report for good (the ledger answered)
  kHookPassed,     // the install hook exited 0 (or the manifest has none)
  kHookFailed,     // with `reason` (how it ended and the tail of its output)
};
inline constexpr EventKind kEventKindLast = EventKind::kHookFailed;
std::string_view EventKindName(EventKind kind);

struct Event {
  EventKind kind = EventKind::kActivate;
  int64_t now_ms = 0;
  std::string reason;
  ReleaseRef release;            // kBundleReady
  std::string bundle_path;       // kBundleReady
  uint64_t transmission_ms = 0;  // kBundleReady
  uint64_t verification_ms = 0;  // kUnpacked
};

enum class ActionKind : uint8_t {
  kUnpack,          // bundle_path → slot (temporary name, verify, fsync, rename): kUnpacked/Failed
  kDeleteSlot,      // remove the slot (and its partial form); no outcome
  kDeleteBundle,    // remove bundle_path; no outcome
  kStopApp,         // SIGTERM, grace, SIGKILL of the app's group: kAppStopped
  kSwitchCurrent,   // current → slot (none: remove), previous → previous_slot: kSwitched/Failed
  kStartApp,        // supervise the app from `slot` (none: run nothing): kAppStarted/StartFailed
  kRunHealthCheck,  // the manifest's checks on the app from `slot`: kHealthPassed/Failed
  kSendReport,      // hand `report` to the sink: kReportAccepted
  kCollectGarbage,  // delete slots that are neither current, previous nor staged; no outcome
  kRunPreActivate,  // the manifest's pre_activate hook in `slot`: kHookPassed/HookFailed
  kRunPostActivate, // the manifest's post_activate hook in `slot`: kHookPassed/HookFailed
};
std::string_view ActionKindName(ActionKind kind);
// Whether the shell feeds an outcome event back when this kind is the last action.
bool HasOutcome(ActionKind kind);

struct Action {
  ActionKind kind = ActionKind::kCollectGarbage;
  std::string slot;
  std::string previous_slot;  // kSwitchCurrent
  std::string bundle_path;    // kUnpack, kDeleteBundle
  ledger::DeviceReport report;
  friend bool operator==(const Action&, const Action&) = default;
};

struct Transition {
  UpdaterRecord record;
  std::vector<Action> actions;
  // False when the event does not apply in this state: nothing to persist, nothing to do.
  bool changed = false;
};

// The table. An event that does not apply in the record's state returns changed = false.
Transition Next(const UpdaterRecord& record, const Event& event);

// Start-up after a crash. The shell has already stopped any app process left over from
// before the crash, so no version is running when these actions begin.
Transition Recover(const UpdaterRecord& record);

// A fresh record for an app with nothing installed.
UpdaterRecord InitialRecord(std::string app);

}  // namespace vigil::agent
