// The updater's pure state table: every transition, every recovery, the record's encoding.
#include "agent/updater.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "common/limits.h"

namespace vigil::agent {
namespace {

using K = EventKind;
using S = UpdaterState;
using A = ActionKind;

ReleaseRef Release(std::string version, uint8_t fill) {
  ReleaseRef release;
  release.version = version;
  release.bundle_digest.fill(fill);
  release.manifest_root.fill(static_cast<uint8_t>(fill + 1));
  release.slot = version + "-" + std::string(12, 'a');
  return release;
}

Event Make(K kind, int64_t now_ms = 1000, std::string reason = "") {
  Event event;
  event.kind = kind;
  event.now_ms = now_ms;
  event.reason = std::move(reason);
  return event;
}

Event BundleReady(ReleaseRef release, int64_t now_ms = 1000) {
  Event event = Make(K::kBundleReady, now_ms);
  event.release = std::move(release);
  event.bundle_path = "/var/lib/vigil/downloads/x.bundle";
  event.transmission_ms = 42;
  return event;
}

std::vector<A> Kinds(const Transition& transition) {
  std::vector<A> kinds;
  for (const Action& action : transition.actions) kinds.push_back(action.kind);
  return kinds;
}

UpdaterRecord Running(std::string version) {
  UpdaterRecord record = InitialRecord("pump");
  record.from = Release(std::move(version), 1);
  return record;
}

// Feeds `event` and checks the shell contract on the result: the record is valid, only the
// last action may have an outcome.
Transition Step(const UpdaterRecord& record, const Event& event) {
  Transition t = Next(record, event);
  EXPECT_TRUE(t.changed) << UpdaterStateName(record.state) << " + " << EventKindName(event.kind);
  EXPECT_TRUE(CheckRecord(t.record).has_value());
  for (size_t i = 0; i + 1 < t.actions.size(); ++i) {
    EXPECT_FALSE(HasOutcome(t.actions[i].kind) && t.actions[i].kind != A::kStartApp)
        << ActionKindName(t.actions[i].kind) << " before the last action";
  }
  return t;
}

TEST(UpdaterTest, InstallThenActivateEndsIdleRunningTheNewVersion) {
  UpdaterRecord r = Running("1.0.0");
  ReleaseRef next = Release("1.1.0", 7);

  Transition t = Step(r, BundleReady(next, 1000));
  EXPECT_EQ(t.record.state, S::kUnpacking);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kDeleteSlot, A::kUnpack}));
  EXPECT_EQ(t.actions[1].slot, next.slot);
  EXPECT_EQ(t.record.times.transmission_ms, 42u);

  Event unpacked = Make(K::kUnpacked, 1500);
  unpacked.verification_ms = 30;
  t = Step(t.record, unpacked);
  EXPECT_EQ(t.record.state, S::kStaged);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kDeleteBundle, A::kSendReport}));
  const ledger::DeviceReport& installed = t.actions.back().report;
  EXPECT_EQ(installed.report_kind, ledger::DeviceReportKind::kInstalled);
  EXPECT_EQ(installed.version, "1.1.0");
  EXPECT_EQ(installed.duration_ms, 500u);
  EXPECT_EQ(installed.observed_time_ms, 1500);

  // The report's acceptance changes nothing: Staged waits for Activate.
  EXPECT_FALSE(Next(t.record, Make(K::kReportAccepted)).changed);

  t = Step(t.record, Make(K::kActivate, 2000));
  EXPECT_EQ(t.record.state, S::kPreActivating);
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kRunPreActivate}));
  EXPECT_EQ(t.actions[0].slot, next.slot);
  t = Step(t.record, Make(K::kHookPassed, 2050));
  EXPECT_EQ(t.record.state, S::kStoppingOld);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kStopApp}));
  t = Step(t.record, Make(K::kAppStopped, 2100));
  EXPECT_EQ(t.record.state, S::kSwitching);
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kSwitchCurrent}));
  EXPECT_EQ(t.actions[0].slot, next.slot);
  EXPECT_EQ(t.actions[0].previous_slot, r.from.slot);
  t = Step(t.record, Make(K::kSwitched, 2110));
  EXPECT_EQ(t.record.state, S::kPostActivating);
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kRunPostActivate}));
  EXPECT_EQ(t.actions[0].slot, next.slot);
  t = Step(t.record, Make(K::kHookPassed, 2115));
  EXPECT_EQ(t.record.state, S::kStartingNew);
  EXPECT_EQ(t.actions[0].slot, next.slot);
  t = Step(t.record, Make(K::kAppStarted, 2120));
  EXPECT_EQ(t.record.state, S::kHealthChecking);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kRunHealthCheck}));
  t = Step(t.record, Make(K::kHealthPassed, 5000));
  EXPECT_EQ(t.record.state, S::kCommitting);
  const ledger::DeviceReport& activated = t.actions.back().report;
  EXPECT_EQ(activated.report_kind, ledger::DeviceReportKind::kActivated);
  EXPECT_EQ(activated.duration_ms, 3000u);
  t = Step(t.record, Make(K::kReportAccepted, 5100));
  EXPECT_EQ(t.record.state, S::kIdle);
  EXPECT_EQ(t.record.from, next);
  EXPECT_TRUE(t.record.to.empty());
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kCollectGarbage}));
}

// Drives an activation of 1.1.0 over 1.0.0 up to HealthChecking.
UpdaterRecord ActivatedUpToHealthCheck() {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  for (K kind : {K::kUnpacked, K::kActivate, K::kHookPassed, K::kAppStopped, K::kSwitched,
                 K::kHookPassed, K::kAppStarted}) {
    t = Next(t.record, Make(kind));
  }
  EXPECT_EQ(t.record.state, S::kHealthChecking);
  return t.record;
}

TEST(UpdaterTest, FailedPreActivateHookRefusesTheReleaseWithoutStoppingTheOldVersion) {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  for (K kind : {K::kUnpacked, K::kActivate}) t = Next(t.record, Make(kind, 2000));
  ASSERT_EQ(t.record.state, S::kPreActivating);
  t = Step(t.record, Make(K::kHookFailed, 2300,
                          "pre_activate hook migrate.sh exited with code 3: disk full"));
  EXPECT_EQ(t.record.state, S::kRolledBack);
  // Nothing is stopped, switched or started: 1.0.0 never stopped running.
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kSendReport}));
  const ledger::DeviceReport& report = t.actions.back().report;
  EXPECT_EQ(report.report_kind, ledger::DeviceReportKind::kRolledBack);
  EXPECT_EQ(report.version, "1.1.0");
  EXPECT_EQ(report.duration_ms, 300u);
  EXPECT_NE(report.detail.find("refused: pre_activate hook migrate.sh exited with code 3: "
                               "disk full"),
            std::string::npos)
      << report.detail;
  t = Step(t.record, Make(K::kReportAccepted));
  EXPECT_EQ(t.record.state, S::kIdle);
  EXPECT_EQ(t.record.from.version, "1.0.0");
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kCollectGarbage}));
}

TEST(UpdaterTest, FailedPostActivateHookSwitchesBackAndRestartsTheOldVersion) {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  for (K kind : {K::kUnpacked, K::kActivate, K::kHookPassed, K::kAppStopped, K::kSwitched}) {
    t = Next(t.record, Make(kind));
  }
  ASSERT_EQ(t.record.state, S::kPostActivating);
  UpdaterRecord before = t.record;
  t = Step(t.record, Make(K::kHookFailed, 1, "post_activate hook warm.sh killed by signal 9"));
  // Nothing runs yet: straight to switching back, then the usual rollback.
  EXPECT_EQ(t.record.state, S::kRollingBackSwitching);
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kSwitchCurrent}));
  EXPECT_EQ(t.actions[0].slot, before.from.slot);
  t = Step(t.record, Make(K::kSwitched));
  t = Step(t.record, Make(K::kAppStarted));
  ASSERT_EQ(t.record.state, S::kRolledBack);
  EXPECT_NE(t.actions.back().report.detail.find("post_activate hook warm.sh"), std::string::npos);
}

TEST(UpdaterTest, HealthFailureSwitchesBackRestartsTheOldVersionAndReportsTheReason) {
  UpdaterRecord r = ActivatedUpToHealthCheck();
  Transition t = Step(r, Make(K::kHealthFailed, 3000, "port 8080 did not answer"));
  EXPECT_EQ(t.record.state, S::kRollingBackStopping);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kStopApp}));
  t = Step(t.record, Make(K::kAppStopped));
  EXPECT_EQ(t.record.state, S::kRollingBackSwitching);
  ASSERT_EQ(Kinds(t), (std::vector<A>{A::kSwitchCurrent}));
  EXPECT_EQ(t.actions[0].slot, r.from.slot);
  EXPECT_EQ(t.actions[0].previous_slot, "");
  t = Step(t.record, Make(K::kSwitched));
  EXPECT_EQ(t.record.state, S::kRollingBackStarting);
  EXPECT_EQ(t.actions[0].slot, r.from.slot);
  t = Step(t.record, Make(K::kAppStarted, 4000));
  EXPECT_EQ(t.record.state, S::kRolledBack);
  const ledger::DeviceReport& report = t.actions.back().report;
  EXPECT_EQ(report.report_kind, ledger::DeviceReportKind::kRolledBack);
  EXPECT_EQ(report.version, "1.1.0");
  EXPECT_NE(report.detail.find("port 8080 did not answer"), std::string::npos) << report.detail;
  t = Step(t.record, Make(K::kReportAccepted));
  EXPECT_EQ(t.record.state, S::kIdle);
  EXPECT_EQ(t.record.from, r.from);
  EXPECT_NE(t.record.reason.find("health check"), std::string::npos);
}

TEST(UpdaterTest, StartFailureAndSwitchFailureRollBack) {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  for (K kind : {K::kUnpacked, K::kActivate, K::kHookPassed, K::kAppStopped, K::kSwitched,
                 K::kHookPassed}) {
    t = Next(t.record, Make(kind));
  }
  Transition failed = Step(t.record, Make(K::kStartFailed, 1, "exec: No such file"));
  EXPECT_EQ(failed.record.state, S::kRollingBackStopping);
  EXPECT_NE(failed.record.reason.find("did not start"), std::string::npos);

  t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  for (K kind : {K::kUnpacked, K::kActivate, K::kHookPassed, K::kAppStopped}) {
    t = Next(t.record, Make(kind));
  }
  failed = Step(t.record, Make(K::kSwitchFailed, 1, "rename: No space left"));
  EXPECT_EQ(failed.record.state, S::kRollingBackSwitching);
  // A failure to switch back is retried, never given up on.
  Transition again = Step(failed.record, Make(K::kSwitchFailed, 2, "still full"));
  EXPECT_EQ(again.record.state, S::kRollingBackSwitching);
}

TEST(UpdaterTest, UnpackFailureReturnsToIdleAndCleansUp) {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  t = Step(t.record, Make(K::kUnpackFailed, 1, "file bin/pump: digest mismatch"));
  EXPECT_EQ(t.record.state, S::kIdle);
  EXPECT_EQ(Kinds(t), (std::vector<A>{A::kDeleteSlot, A::kDeleteBundle, A::kCollectGarbage}));
  EXPECT_NE(t.record.reason.find("digest mismatch"), std::string::npos);
  EXPECT_EQ(t.record.from.version, "1.0.0");
}

TEST(UpdaterTest, ANewBundleWhileStagedReplacesTheStagedOne) {
  Transition t = Next(Running("1.0.0"), BundleReady(Release("1.1.0", 7)));
  t = Next(t.record, Make(K::kUnpacked));
  ASSERT_EQ(t.record.state, S::kStaged);
  std::string old_slot = t.record.to.slot;
  Event newer = BundleReady(Release("1.2.0", 9));
  newer.bundle_path = "/other.bundle";
  t = Step(t.record, newer);
  EXPECT_EQ(t.record.state, S::kUnpacking);
  EXPECT_EQ(t.record.to.version, "1.2.0");
  ASSERT_GE(t.actions.size(), 2u);
  EXPECT_EQ(t.actions[0].kind, A::kDeleteSlot);
  EXPECT_EQ(t.actions[0].slot, old_slot);
  EXPECT_EQ(t.actions[1].kind, A::kDeleteBundle);
}

// The table is exactly what docs/agent.md lists: every other (state, event) pair is ignored.
TEST(UpdaterTest, EventsOutsideTheTableChangeNothing) {
  const std::set<std::pair<S, K>> applies = {
      {S::kIdle, K::kBundleReady},
      {S::kUnpacking, K::kUnpacked},
      {S::kUnpacking, K::kUnpackFailed},
      {S::kStaged, K::kBundleReady},
      {S::kStaged, K::kActivate},
      {S::kPreActivating, K::kHookPassed},
      {S::kPreActivating, K::kHookFailed},
      {S::kPostActivating, K::kHookPassed},
      {S::kPostActivating, K::kHookFailed},
      {S::kStoppingOld, K::kAppStopped},
      {S::kSwitching, K::kSwitched},
      {S::kSwitching, K::kSwitchFailed},
      {S::kStartingNew, K::kAppStarted},
      {S::kStartingNew, K::kStartFailed},
      {S::kHealthChecking, K::kHealthPassed},
      {S::kHealthChecking, K::kHealthFailed},
      {S::kCommitting, K::kReportAccepted},
      {S::kRollingBackStopping, K::kAppStopped},
      {S::kRollingBackSwitching, K::kSwitched},
      {S::kRollingBackSwitching, K::kSwitchFailed},
      {S::kRollingBackStarting, K::kAppStarted},
      {S::kRollingBackStarting, K::kStartFailed},
      {S::kRolledBack, K::kReportAccepted},
  };
  for (S state : AllUpdaterStates()) {
    UpdaterRecord record = Running("1.0.0");
    record.state = state;
    if (state != S::kIdle) record.to = Release("1.1.0", 7);
    for (uint8_t k = 0; k <= static_cast<uint8_t>(kEventKindLast); ++k) {
      auto kind = static_cast<K>(k);
      Event event = kind == K::kBundleReady ? BundleReady(Release("1.2.0", 9)) : Make(kind);
      Transition t = Next(record, event);
      EXPECT_EQ(t.changed, applies.contains({state, kind}))
          << UpdaterStateName(state) << " + " << EventKindName(kind);
      if (!t.changed) {
        EXPECT_EQ(t.record, record);
        EXPECT_TRUE(t.actions.empty());
      }
    }
  }
}

// Which release each state's recovery runs, and where it goes next.
TEST(UpdaterTest, RecoveryOfEveryStateRunsOneWholeVersion) {
  struct Expectation {
    S state;
    S after;
    bool runs_new;  // false: the old version (or the last action switches back to it)
  };
  const std::vector<Expectation> table = {
      {S::kIdle, S::kIdle, false},
      {S::kUnpacking, S::kUnpacking, false},
      {S::kStaged, S::kStaged, false},
      {S::kStoppingOld, S::kSwitching, true},
      {S::kSwitching, S::kSwitching, true},
      {S::kStartingNew, S::kStartingNew, true},
      {S::kHealthChecking, S::kStartingNew, true},
      {S::kCommitting, S::kCommitting, true},
      {S::kRollingBackStopping, S::kRollingBackSwitching, false},
      {S::kRollingBackSwitching, S::kRollingBackSwitching, false},
      {S::kRollingBackStarting, S::kRollingBackStarting, false},
      {S::kRolledBack, S::kRolledBack, false},
      {S::kPreActivating, S::kPreActivating, false},
      {S::kPostActivating, S::kPostActivating, true},
  };
  ASSERT_EQ(table.size(), AllUpdaterStates().size());
  for (const Expectation& row : table) {
    UpdaterRecord record = Running("1.0.0");
    record.state = row.state;
    if (row.state != S::kIdle) record.to = Release("1.1.0", 7);
    Transition t = Recover(record);
    SCOPED_TRACE(UpdaterStateName(row.state));
    EXPECT_TRUE(CheckRecord(t.record).has_value());
    EXPECT_EQ(t.record.state, row.after);
    ASSERT_FALSE(t.actions.empty());
    // Every slot an action starts or switches to is the one version this state stands for.
    const std::string& expected_slot = row.runs_new ? record.to.slot : record.from.slot;
    for (const Action& action : t.actions) {
      if (action.kind == A::kStartApp || action.kind == A::kSwitchCurrent) {
        EXPECT_EQ(action.slot, expected_slot) << ActionKindName(action.kind);
      }
    }
    // A recovery never stops anything (nothing runs) and never runs a health check before the
    // app is started again.
    for (const Action& action : t.actions) {
      EXPECT_NE(action.kind, A::kStopApp);
      EXPECT_NE(action.kind, A::kRunHealthCheck);
    }
  }
}

TEST(UpdaterTest, RepeatedCrashesAbandonAnInstallAndRollBackAnActivation) {
  for (S state : {S::kUnpacking, S::kPreActivating, S::kStoppingOld, S::kSwitching,
                  S::kPostActivating, S::kStartingNew, S::kHealthChecking}) {
    SCOPED_TRACE(UpdaterStateName(state));
    UpdaterRecord record = Running("1.0.0");
    record.state = state;
    record.to = Release("1.1.0", 7);
    for (uint32_t i = 0; i < limits::kAgentStepAttemptsMax; ++i) {
      record = Recover(record).record;
      EXPECT_NE(record.state, S::kIdle);
      EXPECT_NE(record.state, S::kRollingBackSwitching);
    }
    Transition t = Recover(record);
    EXPECT_EQ(t.record.state, state == S::kUnpacking       ? S::kIdle
                              : state == S::kPreActivating ? S::kRolledBack
                                                           : S::kRollingBackSwitching);
    EXPECT_NE(t.record.reason.find("restarted"), std::string::npos) << t.record.reason;
  }
}

TEST(UpdaterTest, RecordRoundTripsAndDecodesStrictly) {
  UpdaterRecord record = ActivatedUpToHealthCheck();
  record.reason = "why";
  record.attempt = 2;
  Bytes bytes = EncodeRecord(record);
  auto decoded = DecodeRecord(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, record);

  Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeRecord(trailing).has_value());
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeRecord(ByteSpan(bytes.data(), cut)).has_value()) << cut;
  }
  Bytes wrong_format = bytes;
  wrong_format[0] = 3;
  EXPECT_FALSE(DecodeRecord(wrong_format).has_value());

  UpdaterRecord escaping = record;
  escaping.to.slot = "../../../etc";
  EXPECT_FALSE(DecodeRecord(EncodeRecord(escaping)).has_value());
  escaping.to.slot = "a/b";
  EXPECT_FALSE(DecodeRecord(EncodeRecord(escaping)).has_value());
  UpdaterRecord idle_in_flight = record;
  idle_in_flight.state = S::kIdle;
  EXPECT_FALSE(DecodeRecord(EncodeRecord(idle_in_flight)).has_value());
  UpdaterRecord busy_without_release = Running("1.0.0");
  busy_without_release.state = S::kSwitching;
  EXPECT_FALSE(DecodeRecord(EncodeRecord(busy_without_release)).has_value());
  Bytes bad_state = EncodeRecord(Running("1.0.0"));
  bad_state[2 + 4 + 4] = 99;  // format u16, app "pump" (u32 length + 4 bytes), then state
  EXPECT_FALSE(DecodeRecord(bad_state).has_value());
}

TEST(UpdaterTest, ARollbackIsRememberedOnceAndTheOldestIsForgottenFirst) {
  UpdaterRecord r = ActivatedUpToHealthCheck();
  Transition t = Step(r, Make(K::kHealthFailed, 3000, "exit 1"));
  for (K kind : {K::kAppStopped, K::kSwitched, K::kAppStarted}) t = Step(t.record, Make(kind));
  ASSERT_EQ(t.record.state, S::kRolledBack);
  EXPECT_EQ(t.record.rolled_back_versions, std::vector<std::string>{"1.1.0"});
  // Recovery re-enters rolled-back: still remembered once. Idle keeps it.
  t = Step(t.record, Make(K::kReportAccepted));
  EXPECT_EQ(t.record.state, S::kIdle);
  EXPECT_EQ(t.record.rolled_back_versions, std::vector<std::string>{"1.1.0"});

  // A pre-activate hook that fails refuses the release before anything stopped: remembered too.
  Transition refused = Next(Running("1.0.0"), BundleReady(Release("1.2.0", 9)));
  for (K kind : {K::kUnpacked, K::kActivate}) refused = Step(refused.record, Make(kind));
  refused = Step(refused.record, Make(K::kHookFailed, 2000, "pre_activate exited 3"));
  ASSERT_EQ(refused.record.state, S::kRolledBack);
  EXPECT_EQ(refused.record.rolled_back_versions, std::vector<std::string>{"1.2.0"});

  UpdaterRecord full = Running("1.0.0");
  for (size_t i = 0; i < limits::kAgentRolledBackVersionsMax; ++i) {
    full.rolled_back_versions.push_back("0.0." + std::to_string(i));
  }
  full.state = S::kRollingBackStarting;
  full.to = Release("1.1.0", 7);
  t = Step(full, Make(K::kAppStarted));
  ASSERT_EQ(t.record.rolled_back_versions.size(), limits::kAgentRolledBackVersionsMax);
  EXPECT_EQ(t.record.rolled_back_versions.front(), "0.0.1");
  EXPECT_EQ(t.record.rolled_back_versions.back(), "1.1.0");
}

TEST(UpdaterTest, RolledBackVersionsRoundTripAndFormat1RecordsDecodeWithNone) {
  UpdaterRecord record = Running("1.0.0");
  record.rolled_back_versions = {"1.1.0", "1.2.0-rc.1"};
  auto decoded = DecodeRecord(EncodeRecord(record));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, record);

  // Format 1 is format 2 without the list at the end.
  UpdaterRecord plain = Running("1.0.0");
  Bytes format_1 = EncodeRecord(plain);
  format_1.resize(format_1.size() - 4);  // the empty list's u32 count
  format_1[0] = 1;
  auto upgraded = DecodeRecord(format_1);
  ASSERT_TRUE(upgraded.has_value()) << upgraded.error().ToString();
  EXPECT_EQ(*upgraded, plain);
  EXPECT_EQ(EncodeRecord(*upgraded), EncodeRecord(plain));
  Bytes rewritten = EncodeRecord(*upgraded);
  EXPECT_EQ(rewritten[0], kUpdaterRecordFormat);  // u16 little-endian: the current format

  UpdaterRecord repeated = record;
  repeated.rolled_back_versions = {"1.1.0", "1.1.0"};
  EXPECT_FALSE(DecodeRecord(EncodeRecord(repeated)).has_value());
  UpdaterRecord empty_version = record;
  empty_version.rolled_back_versions = {""};
  EXPECT_FALSE(DecodeRecord(EncodeRecord(empty_version)).has_value());
  UpdaterRecord too_many = record;
  too_many.rolled_back_versions.clear();
  for (size_t i = 0; i <= limits::kAgentRolledBackVersionsMax; ++i) {
    too_many.rolled_back_versions.push_back("0.0." + std::to_string(i));
  }
  EXPECT_FALSE(DecodeRecord(EncodeRecord(too_many)).has_value());
}

TEST(UpdaterTest, LongReasonsAreCutAtACharacterBoundaryAndStillEncode) {
  std::string long_reason;
  while (long_reason.size() < 3 * limits::kLedgerReasonBytesMax) long_reason += "é";
  Transition t = Next(ActivatedUpToHealthCheck(), Make(K::kHealthFailed, 1, long_reason));
  EXPECT_LE(t.record.reason.size(), limits::kLedgerReasonBytesMax);
  EXPECT_TRUE(DecodeRecord(EncodeRecord(t.record)).has_value());
  for (K kind : {K::kAppStopped, K::kSwitched}) t = Next(t.record, Make(kind));
  t = Next(t.record, Make(K::kStartFailed, 1, long_reason));
  ASSERT_EQ(t.record.state, S::kRolledBack);
  EXPECT_TRUE(DecodeRecord(EncodeRecord(t.record)).has_value());
  EXPECT_LE(t.actions.back().report.detail.size(), limits::kLedgerDetailBytesMax);
}

TEST(UpdaterTest, StateNamesParseBack) {
  for (S state : AllUpdaterStates()) {
    auto parsed = ParseUpdaterState(UpdaterStateName(state));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_FALSE(ParseUpdaterState("bogus").has_value());
}

// Random event sequences with random crashes: the record stays valid and encodable, and the
// run always gets back to Idle with exactly one of the two versions as `from`.
TEST(UpdaterTest, RandomEventsAndCrashesAlwaysSettleOnOneVersion) {
  std::mt19937_64 random(12345);
  for (int run = 0; run < 2000; ++run) {
    UpdaterRecord record = Running("1.0.0");
    ReleaseRef next = Release("1.1.0", 7);
    record = Next(record, BundleReady(next)).record;
    std::vector<Action> pending;
    for (int step = 0; step < 200 && record.state != S::kIdle; ++step) {
      Transition t;
      if (random() % 6 == 0) {
        t = Recover(record);
      } else {
        auto kind = static_cast<K>(random() % (static_cast<uint8_t>(kEventKindLast) + 1));
        Event event = kind == K::kBundleReady ? BundleReady(next) : Make(kind);
        t = Next(record, event);
      }
      ASSERT_TRUE(CheckRecord(t.record).has_value());
      auto decoded = DecodeRecord(EncodeRecord(t.record));
      ASSERT_TRUE(decoded.has_value());
      ASSERT_EQ(*decoded, t.record);
      record = t.record;
    }
    // Drive to the end with the events that apply, in the order the shell would produce them.
    for (int step = 0; step < 100 && record.state != S::kIdle; ++step) {
      for (K kind : {K::kUnpacked, K::kActivate, K::kHookPassed, K::kAppStopped, K::kSwitched,
                     K::kAppStarted, K::kHealthPassed, K::kReportAccepted}) {
        Transition t = Next(record, Make(kind));
        if (t.changed) {
          record = t.record;
          break;
        }
      }
    }
    ASSERT_EQ(record.state, S::kIdle);
    EXPECT_TRUE(record.from == next || record.from.version == "1.0.0");
  }
}

}  // namespace
}  // namespace vigil::agent
