// The updater's I/O shell: executes the state table (updater.h) with real slots (slots.h), the
// supervisor and the health checks, for every app under the agent's root (docs/agent.md).
//
// For each app it keeps the UpdaterRecord in <root>/apps/<app>/updater.record and obeys the
// table's contract: the record is written atomically BEFORE the actions it returned run, the
// actions run in order, and the last one's outcome is the next event. Unpacking runs on a
// worker thread (a large bundle must not stall the device's session); everything else, and
// every callback, runs on the io_context's thread.
//
//   UpdaterRunner runner(io_context, {.root = "/var/lib/vigil/agent"}, report_sink);
//   runner.Start();                                  // recovers every app, starts its app
//   runner.Install(release, bundle, transmission);   // from DeviceSession's on_bundle
//   runner.Activate(release.app);                    // this issue: right after Install
//
// Reports (installed, activated, rolled back, app restarted) go to the sink with a callback
// the sink calls once the report is taken care of for good (the ledger answered): until then
// the state that sent it is kept, and re-sent after a restart (at least once).
//
// Thread-safety: one io_context thread.
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

#include "agent/install_hook.h"
#include "agent/slots.h"
#include "agent/supervisor.h"
#include "agent/updater.h"
#include "common/error.h"
#include "delivery/protocol.h"
#include "ledger/transaction.h"

namespace vigil::agent {

struct UpdaterRunnerOptions {
  std::filesystem::path root;
  // Restart, crash-loop and stop policy of every app (log and pid paths are set per app).
  SupervisorOptions supervisor;
  // When a manifest asks for no health check at all, the app must still stay up this long.
  std::chrono::milliseconds health_stay_up_default = limits::kAgentHealthStayUpDefault;
  std::chrono::milliseconds health_timeout_default = limits::kAgentHealthTimeoutDefault;
  // How long an install hook (pre_activate, post_activate) may run before it is killed.
  std::chrono::milliseconds hook_timeout = limits::kAgentHookTimeout;
  // Test seam (kill -9 tests): called right after a record is persisted, before its actions.
  std::function<void(const UpdaterRecord& record)> after_persist;
  // Wall clock for the stage table (ms since the epoch); the system clock by default.
  std::function<int64_t()> now_ms;
};

// `accepted` must be called once, when the report no longer needs resending.
using ReportSink =
    std::function<void(const ledger::DeviceReport& report, std::function<void()> accepted)>;

class UpdaterRunner {
 public:
  UpdaterRunner(asio::io_context& io_context, UpdaterRunnerOptions options, ReportSink sink);
  ~UpdaterRunner();  // stops supervising (apps are killed), joins unpack workers
  UpdaterRunner(const UpdaterRunner&) = delete;
  UpdaterRunner& operator=(const UpdaterRunner&) = delete;

  // Reads every app's record, stops what a killed agent left running, and recovers each app
  // (Recover in updater.h). A record that does not decode is an error naming the file.
  Status Start();

  // A verified, downloaded bundle of `release` (DeviceSession's on_bundle). Refused while the
  // app is busy activating (DeviceSession offers again later).
  Status Install(const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                 std::chrono::microseconds transmission);
  // Activates what is staged for `app` (queued if the install is still finishing). `note`
  // (why now: a coordinated activation's block) becomes the activated report's detail.
  Status Activate(const std::string& app, std::string note = "");
  // Stops `app` and keeps it stopped (seed 002: an effective activation whose version is not
  // staged, policy halt) until an activation starts the new version. Refused while an
  // activation is in flight. The record is not changed: a restart runs `from` again, and the
  // next verified header halts it again.
  Status Halt(const std::string& app);

  // Whether an offer is worth downloading: an app not installed yet, or a version newer than
  // the one it runs, not the one already staged or being installed, and not one that failed
  // its health check here and was rolled back (the record remembers those across restarts).
  bool WantsRelease(const delivery::VerifiedRelease& release) const;
  // For the Hello: every app, sorted, with what runs and what is staged.
  std::vector<delivery::AppStatus> AppStatuses() const;

  std::optional<UpdaterRecord> record(const std::string& app) const;
  // No action in flight and nothing queued: the app's update has settled (Idle or Staged).
  bool settled(const std::string& app) const;
  // The version whose slot the supervisor runs ("" when none).
  std::string running_version(const std::string& app) const;
  // The app's supervisor (the integrity monitor restarts or quarantines the app through it);
  // nullptr for an app this runner does not know.
  Supervisor* supervisor(const std::string& app) const;

  // Called on every transition (for logs and tests).
  void set_on_transition(std::function<void(const UpdaterRecord&)> callback) {
    on_transition_ = std::move(callback);
  }

 private:
  struct App;
  App& GetApp(const std::string& name);
  App* FindApp(const std::string& name) const;
  void Apply(App& app, Transition transition);
  void Feed(App& app, const Event& event);
  void Request(App& app, Event event);
  void DrainQueue(App& app);
  void Execute(App& app, const Action& action, bool last);
  void Finish(App& app, bool last, Event event);
  Event Outcome(EventKind kind, std::string reason = "");
  void Unpack(App& app, const Action& action);
  void StartApp(App& app, const Action& action, bool last);
  void RunHealth(App& app, const Action& action);
  void RunHook(App& app, const Action& action, bool last);
  void OnCrash(App& app, const CrashReport& crash);
  int64_t NowMs() const;

  asio::io_context& io_context_;
  UpdaterRunnerOptions options_;
  ReportSink sink_;
  std::function<void(const UpdaterRecord&)> on_transition_;
  std::map<std::string, std::unique_ptr<App>> apps_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::agent
