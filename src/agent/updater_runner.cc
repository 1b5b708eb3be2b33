#include "agent/updater_runner.h"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <algorithm>
#include <set>

#include "agent/health_check.h"
#include "agent/install_hook.h"
#include "common/file.h"
#include "common/log.h"
#include "ledger/semver.h"
#include "release/bundle.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

// External requests (Install, Activate) waiting for an action in flight to finish.
constexpr size_t kQueuedRequestsMax = 4;

bool IsAppName(std::string_view name) {
  if (name.empty() || name.size() > limits::kLedgerNameBytesMax) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsFailure(EventKind kind) {
  return kind == EventKind::kUnpackFailed || kind == EventKind::kSwitchFailed ||
         kind == EventKind::kStartFailed || kind == EventKind::kHealthFailed ||
         kind == EventKind::kHookFailed;
}

}  // namespace

struct UpdaterRunner::App {
  App(const std::filesystem::path& root, const std::string& name)
      : layout(root, name), record(InitialRecord(name)) {}
  AppLayout layout;
  UpdaterRecord record;
  std::unique_ptr<Supervisor> supervisor;
  bool busy = false;  // the last action's outcome has not been fed back yet
  std::deque<Event> queued;
  std::string running_version;
  InstallHookHandle hook;  // the install hook in flight (destroying it kills the hook)
  std::jthread worker;     // the unpack in flight (declared last: joined first)
};

UpdaterRunner::UpdaterRunner(asio::io_context& io_context, UpdaterRunnerOptions options,
                             ReportSink sink)
    : io_context_(io_context), options_(std::move(options)), sink_(std::move(sink)) {}

UpdaterRunner::~UpdaterRunner() {
  *alive_ = false;
  apps_.clear();
}

int64_t UpdaterRunner::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

UpdaterRunner::App* UpdaterRunner::FindApp(const std::string& name) const {
  auto found = apps_.find(name);
  return found == apps_.end() ? nullptr : found->second.get();
}

UpdaterRunner::App& UpdaterRunner::GetApp(const std::string& name) {
  if (App* app = FindApp(name)) return *app;
  auto app = std::make_unique<App>(options_.root, name);
  App& reference = *app;
  SupervisorOptions supervisor_options = options_.supervisor;
  supervisor_options.log_path = reference.layout.log();
  supervisor_options.pid_path = reference.layout.pid();
  reference.supervisor = std::make_unique<Supervisor>(
      io_context_, std::move(supervisor_options),
      [this, &reference](const CrashReport& crash) { OnCrash(reference, crash); });
  apps_.emplace(name, std::move(app));
  return reference;
}

Status UpdaterRunner::Start() {
  const std::filesystem::path apps = options_.root / "apps";
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(apps, 0755));
  std::error_code error;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(apps, error)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && IsAppName(name)) names.push_back(name);
    if (names.size() > limits::kDeliveryAppsMax) {
      return Fail(
          ErrorCode::kResourceExhausted,
          "more than " + std::to_string(limits::kDeliveryAppsMax) + " apps under " + apps.string());
    }
  }
  if (error) return Fail(ErrorCode::kIOError, "listing " + apps.string() + ": " + error.message());
  for (const std::string& name : names) {
    App& app = GetApp(name);
    if (std::filesystem::exists(app.layout.record())) {
      VIGIL_ASSIGN_OR_RETURN(Bytes bytes,
                             ReadFile(app.layout.record(), limits::kAgentRecordBytesMax));
      auto record = DecodeRecord(bytes);
      if (!record) return std::unexpected(record.error().WithContext(app.layout.record().string()));
      if (record->app != name) {
        return Fail(ErrorCode::kCorruption,
                    app.layout.record().string() + " is the record of app " + record->app);
      }
      app.record = std::move(*record);
    }
    // Whatever the killed agent left running goes first: recovery starts from nothing running.
    VIGIL_RETURN_IF_ERROR(
        KillLeftoverGroup(app.layout.pid(), options_.supervisor.stop_grace_period));
    spdlog::info("agent recover app={} state={} attempt={}", name,
                 UpdaterStateName(app.record.state), app.record.attempt);
    Apply(app, Recover(app.record));
  }
  return Ok();
}

Status UpdaterRunner::Install(const delivery::VerifiedRelease& release,
                              const std::filesystem::path& bundle,
                              std::chrono::microseconds transmission) {
  if (!IsAppName(release.app)) {
    return Fail(ErrorCode::kInvalidArgument, "invalid app name '" + release.app + "'");
  }
  std::string slot = SlotName(release.version, release.bundle_digest);
  if (!IsValidSlotName(slot)) {
    return Fail(ErrorCode::kInvalidArgument, "invalid version '" + release.version + "'");
  }
  App& app = GetApp(release.app);
  VIGIL_RETURN_IF_ERROR(app.layout.Create());
  UpdaterState state = app.record.state;
  if (state != UpdaterState::kIdle && state != UpdaterState::kStaged) {
    return Fail(ErrorCode::kUnavailable,
                "app " + release.app + " is busy (" + std::string(UpdaterStateName(state)) + ")");
  }
  if (release.version == app.record.from.version ||
      (state == UpdaterState::kStaged && release.version == app.record.to.version)) {
    return Fail(ErrorCode::kAlreadyExists,
                release.app + " " + release.version + " is already installed");
  }
  Event event;
  event.kind = EventKind::kBundleReady;
  event.release = {.version = release.version,
                   .bundle_digest = release.bundle_digest,
                   .manifest_root = release.manifest_root,
                   .slot = slot};
  event.bundle_path = std::filesystem::absolute(bundle).string();
  event.transmission_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<milliseconds>(transmission).count());
  Request(app, std::move(event));
  return Ok();
}

Status UpdaterRunner::Activate(const std::string& app_name, std::string note) {
  App* app = FindApp(app_name);
  if (app == nullptr) return Fail(ErrorCode::kNotFound, "no app " + app_name);
  UpdaterState state = app->record.state;
  if (state != UpdaterState::kStaged && state != UpdaterState::kUnpacking) {
    return Fail(ErrorCode::kRefused, "nothing staged for " + app_name + " (state " +
                                         std::string(UpdaterStateName(state)) + ")");
  }
  Event event;
  event.kind = EventKind::kActivate;
  event.reason = std::move(note);
  Request(*app, std::move(event));
  return Ok();
}

Status UpdaterRunner::Halt(const std::string& app_name) {
  App* app = FindApp(app_name);
  if (app == nullptr) return Fail(ErrorCode::kNotFound, "no app " + app_name);
  UpdaterState state = app->record.state;
  if (state != UpdaterState::kIdle && state != UpdaterState::kStaged &&
      state != UpdaterState::kUnpacking) {
    return Fail(ErrorCode::kRefused,
                "cannot halt " + app_name + " while it is " + std::string(UpdaterStateName(state)));
  }
  app->supervisor->Stop([alive = alive_, this, app_name] {
    if (!*alive) return;
    if (App* stopped = FindApp(app_name)) stopped->running_version.clear();
  });
  return Ok();
}

void UpdaterRunner::Request(App& app, Event event) {
  if (app.queued.size() >= kQueuedRequestsMax) {
    spdlog::warn("agent request_dropped app={} event={}", app.layout.app(),
                 EventKindName(event.kind));
    return;
  }
  app.queued.push_back(std::move(event));
  DrainQueue(app);
}

void UpdaterRunner::DrainQueue(App& app) {
  while (!app.busy && !app.queued.empty()) {
    Event event = std::move(app.queued.front());
    app.queued.pop_front();
    event.now_ms = NowMs();
    Transition transition = Next(app.record, event);
    if (!transition.changed) {
      spdlog::info("agent request_ignored app={} state={} event={}", app.layout.app(),
                   UpdaterStateName(app.record.state), EventKindName(event.kind));
      continue;
    }
    Apply(app, std::move(transition));
  }
}

void UpdaterRunner::Feed(App& app, const Event& event) {
  app.busy = false;
  Transition transition = Next(app.record, event);
  if (!transition.changed) {
    spdlog::debug("agent event_ignored app={} state={} event={}", app.layout.app(),
                  UpdaterStateName(app.record.state), EventKindName(event.kind));
  } else {
    Apply(app, std::move(transition));
  }
  DrainQueue(app);
}

void UpdaterRunner::Apply(App& app, Transition transition) {
  if (!transition.changed) return;
  // Persist BEFORE acting: after a crash, the record names a state whose actions may be
  // executed again (they are idempotent), never one whose actions ran unrecorded.
  if (transition.record != app.record || !std::filesystem::exists(app.layout.record())) {
    VIGIL_ASSERT(CheckRecord(transition.record).has_value());
    if (auto status = app.layout.Create(); !status) {
      spdlog::error("agent record_dir_failed app={} error={}", app.layout.app(),
                    LogValue(status.error().ToString()));
      return;
    }
    auto status = WriteFileAtomically(app.layout.record(), EncodeRecord(transition.record), 0644);
    if (!status) {
      // Nothing runs that the record does not name; the app stays in its persisted state.
      spdlog::error("agent record_write_failed app={} state={} error={}", app.layout.app(),
                    UpdaterStateName(transition.record.state), LogValue(status.error().ToString()));
      return;
    }
    if (options_.after_persist) options_.after_persist(transition.record);
  }
  app.record = transition.record;
  spdlog::info("agent state app={} state={} to={} reason={}", app.layout.app(),
               UpdaterStateName(app.record.state), app.record.to.version,
               LogValue(app.record.reason));
  if (on_transition_) on_transition_(app.record);
  const auto& actions = transition.actions;
  app.busy = !actions.empty() && HasOutcome(actions.back().kind);
  for (size_t i = 0; i < actions.size(); ++i) Execute(app, actions[i], i + 1 == actions.size());
}

Event UpdaterRunner::Outcome(EventKind kind, std::string reason) {
  Event event;
  event.kind = kind;
  event.now_ms = NowMs();
  event.reason = std::move(reason);
  return event;
}

void UpdaterRunner::Finish(App& app, bool last, Event event) {
  if (!last) {
    if (IsFailure(event.kind)) {
      spdlog::warn("agent step_failed app={} event={} reason={}", app.layout.app(),
                   EventKindName(event.kind), LogValue(event.reason));
    }
    return;
  }
  auto deliver = [this, alive = alive_, name = app.layout.app(), event]() {
    if (!*alive) return;
    if (App* target = FindApp(name)) Feed(*target, event);
  };
  if (event.kind == EventKind::kSwitchFailed) {
    // Switching is retried by the table; pace it so a broken disk is not hammered.
    auto timer =
        std::make_shared<asio::steady_timer>(io_context_, limits::kAgentRestartDelayInitial);
    timer->async_wait([timer, deliver](std::error_code) { deliver(); });
    return;
  }
  asio::post(io_context_, deliver);
}

void UpdaterRunner::Execute(App& app, const Action& action, bool last) {
  const AppLayout& layout = app.layout;
  switch (action.kind) {
    case ActionKind::kUnpack:
      Unpack(app, action);
      return;
    case ActionKind::kDeleteSlot:
      if (auto status = DeleteSlot(layout, action.slot); !status) {
        spdlog::warn("agent delete_slot_failed error={}", LogValue(status.error().ToString()));
      }
      return;
    case ActionKind::kDeleteBundle: {
      std::error_code ignored;
      if (!action.bundle_path.empty()) std::filesystem::remove(action.bundle_path, ignored);
      return;
    }
    case ActionKind::kCollectGarbage: {
      std::set<std::string> keep;
      for (const auto& link : {layout.current(), layout.previous()}) {
        if (auto target = ReadLink(link); target && target->has_value()) keep.insert(**target);
      }
      if (!app.record.to.empty()) keep.insert(app.record.to.slot);
      if (!app.record.from.empty()) keep.insert(app.record.from.slot);
      if (auto removed = CollectGarbage(layout, keep); !removed) {
        spdlog::warn("agent collect_garbage_failed error={}", LogValue(removed.error().ToString()));
      }
      return;
    }
    case ActionKind::kStopApp:
      app.supervisor->Stop([this, alive = alive_, &app, last] {
        if (!*alive) return;
        app.running_version.clear();
        Finish(app, last, Outcome(EventKind::kAppStopped));
      });
      return;
    case ActionKind::kSwitchCurrent: {
      Status status = SwitchLink(layout.current(), action.slot);
      if (status) status = SwitchLink(layout.previous(), action.previous_slot);
      Finish(app, last,
             status ? Outcome(EventKind::kSwitched)
                    : Outcome(EventKind::kSwitchFailed, status.error().ToString()));
      return;
    }
    case ActionKind::kStartApp:
      StartApp(app, action, last);
      return;
    case ActionKind::kRunHealthCheck:
      RunHealth(app, action);
      return;
    case ActionKind::kRunPreActivate:
    case ActionKind::kRunPostActivate:
      RunHook(app, action, last);
      return;
    case ActionKind::kSendReport:
      if (!sink_) {
        Finish(app, last, Outcome(EventKind::kReportAccepted));
        return;
      }
      sink_(action.report, [this, alive = alive_, &app, last, once = std::make_shared<bool>()] {
        if (!*alive || *once) return;
        *once = true;
        Finish(app, last, Outcome(EventKind::kReportAccepted));
      });
      return;
  }
}

void UpdaterRunner::StartApp(App& app, const Action& action, bool last) {
  if (action.slot.empty()) {  // nothing was installed before this update
    Finish(app, last, Outcome(EventKind::kAppStarted));
    return;
  }
  auto manifest = LoadSlotManifest(app.layout, action.slot);
  if (!manifest) {
    Finish(app, last, Outcome(EventKind::kStartFailed, manifest.error().ToString()));
    return;
  }
  if (app.supervisor->running()) {
    Finish(app, last, Outcome(EventKind::kStartFailed, "another version is still running"));
    return;
  }
  auto status =
      app.supervisor->Start({.directory = std::filesystem::absolute(app.layout.slot(action.slot)),
                             .argv = manifest->entry,
                             .environment = AppEnvironment(app.layout, manifest->version,
                                                           action.slot)});
  if (!status) {
    Finish(app, last, Outcome(EventKind::kStartFailed, status.error().ToString()));
    return;
  }
  app.running_version = manifest->version;
  Finish(app, last, Outcome(EventKind::kAppStarted));
}

void UpdaterRunner::RunHealth(App& app, const Action& action) {
  auto manifest = LoadSlotManifest(app.layout, action.slot);
  if (!manifest) {
    Finish(app, true, Outcome(EventKind::kHealthFailed, manifest.error().ToString()));
    return;
  }
  const release::HealthCheck& health = manifest->health;
  HealthCheckSpec spec;
  spec.stay_up = std::chrono::seconds(health.stay_up_seconds);
  spec.command = health.command;
  spec.tcp_port = health.tcp_port;
  spec.timeout = health.timeout_seconds == 0
                     ? options_.health_timeout_default
                     : milliseconds(std::chrono::seconds(health.timeout_seconds));
  spec.directory = std::filesystem::absolute(app.layout.slot(action.slot));
  spec.environment = AppEnvironment(app.layout, manifest->version, action.slot);
  if (spec.stay_up.count() == 0 && spec.command.empty() && spec.tcp_port == 0) {
    spec.stay_up = options_.health_stay_up_default;
  }
  Supervisor* supervisor = app.supervisor.get();
  uint64_t exits_before = supervisor->exits();
  AppExitProbe probe = [alive = alive_, supervisor, exits_before]() -> std::optional<std::string> {
    if (!*alive) return "was abandoned";
    if (supervisor->exits() > exits_before && supervisor->last_crash()) {
      return supervisor->last_crash()->exit.ToString() + " after " +
             std::to_string(supervisor->last_crash()->uptime.count()) + " ms";
    }
    if (!supervisor->supervising()) return "is not supervised";
    return std::nullopt;
  };
  RunHealthCheck(io_context_, std::move(spec), std::move(probe),
                 [this, alive = alive_, &app](Status status) {
                   if (!*alive) return;
                   Finish(app, true,
                          status ? Outcome(EventKind::kHealthPassed)
                                 : Outcome(EventKind::kHealthFailed, status.error().message()));
                 });
}

void UpdaterRunner::RunHook(App& app, const Action& action, bool last) {
  const bool pre = action.kind == ActionKind::kRunPreActivate;
  auto manifest = LoadSlotManifest(app.layout, action.slot);
  if (!manifest) {
    Finish(app, last, Outcome(EventKind::kHookFailed, manifest.error().ToString()));
    return;
  }
  InstallHookSpec spec{.name = pre ? "pre_activate" : "post_activate",
                       .argv = pre ? manifest->hooks.pre_activate : manifest->hooks.post_activate,
                       .directory = std::filesystem::absolute(app.layout.slot(action.slot)),
                       .output_path = app.layout.hook_log(),
                       .timeout = options_.hook_timeout,
                       .environment = AppEnvironment(app.layout, manifest->version, action.slot)};
  if (!spec.argv.empty()) {
    spdlog::info("agent hook app={} hook={} slot={}", app.layout.app(), spec.name, action.slot);
  }
  app.hook = RunInstallHook(
      io_context_, std::move(spec), [this, alive = alive_, &app, last](Status status) {
        if (!*alive) return;
        app.hook.reset();
        Finish(app, last,
               status ? Outcome(EventKind::kHookPassed)
                      : Outcome(EventKind::kHookFailed, status.error().message()));
      });
}

void UpdaterRunner::Unpack(App& app, const Action& action) {
  if (app.worker.joinable()) app.worker.join();  // the previous unpack has long finished
  AppLayout layout = app.layout;
  ReleaseRef to = app.record.to;
  std::string bundle = action.bundle_path;
  app.worker = std::jthread([this, alive = alive_, layout, to, bundle, name = layout.app()] {
    Event event;
    if (auto installed = InstallRelease(layout, to.slot, bundle, to.manifest_root, to.version);
        !installed) {
      event = Outcome(EventKind::kUnpackFailed, installed.error().ToString());
    } else {
      event = Outcome(EventKind::kUnpacked);
      event.verification_ms = static_cast<uint64_t>(installed->verification.count());
    }
    // Back to the io_context's thread; the runner may be gone by then.
    asio::post(io_context_, [this, alive, name, event] {
      if (!*alive) return;
      if (App* target = FindApp(name)) Feed(*target, event);
    });
  });
}

void UpdaterRunner::OnCrash(App& app, const CrashReport& crash) {
  if (!sink_) return;
  ledger::DeviceReport report{.report_kind = ledger::DeviceReportKind::kAppRestarted,
                              .app = app.layout.app(),
                              .version = app.running_version,
                              .observed_time_ms = NowMs(),
                              .snapshot_root = std::nullopt,
                              .files_changed = 0,
                              .duration_ms = static_cast<uint64_t>(crash.uptime.count()),
                              .detail = crash.ToString()};
  sink_(report, [] {});
}

bool UpdaterRunner::WantsRelease(const delivery::VerifiedRelease& release) const {
  const App* app = FindApp(release.app);
  if (app == nullptr) return true;
  UpdaterState state = app->record.state;
  if (state != UpdaterState::kIdle && state != UpdaterState::kStaged) return false;
  if (release.version == app->record.from.version || release.version == app->record.to.version ||
      std::ranges::find(app->record.rolled_back_versions, release.version) !=
          app->record.rolled_back_versions.end()) {
    return false;
  }
  if (app->record.from.empty()) return true;
  auto offered = ledger::SemanticVersion::Parse(release.version);
  auto running = ledger::SemanticVersion::Parse(app->record.from.version);
  return offered && running && offered->IsNewerThan(*running);
}

std::vector<delivery::AppStatus> UpdaterRunner::AppStatuses() const {
  std::vector<delivery::AppStatus> statuses;
  for (const auto& [name, app] : apps_) {  // std::map: sorted by app
    statuses.push_back({.app = name,
                        .running_version = app->running_version,
                        .staged_version = app->record.state == UpdaterState::kStaged
                                              ? app->record.to.version
                                              : ""});
  }
  return statuses;
}

std::optional<UpdaterRecord> UpdaterRunner::record(const std::string& app) const {
  const App* found = FindApp(app);
  if (found == nullptr) return std::nullopt;
  return found->record;
}

bool UpdaterRunner::settled(const std::string& app) const {
  const App* found = FindApp(app);
  if (found == nullptr) return true;
  return !found->busy && found->queued.empty() &&
         (found->record.state == UpdaterState::kIdle ||
          found->record.state == UpdaterState::kStaged);
}

std::string UpdaterRunner::running_version(const std::string& app) const {
  const App* found = FindApp(app);
  return found == nullptr ? "" : found->running_version;
}

Supervisor* UpdaterRunner::supervisor(const std::string& app) const {
  const App* found = FindApp(app);
  return found == nullptr ? nullptr : found->supervisor.get();
}

}  // namespace vigil::agent
