#include "rollout/simulated_device.h"

#include <asio/post.hpp>
#include <set>

#include "common/file.h"
#include "crypto/crypto.h"
#include "ledger/semver.h"

namespace vigil::rollout {
namespace {

using agent::ActionKind;
using agent::EventKind;
using agent::UpdaterState;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

agent::Event Outcome(EventKind kind, std::string reason = "") {
  agent::Event event;
  event.kind = kind;
  event.now_ms = NowMs();
  event.reason = std::move(reason);
  return event;
}

}  // namespace

SimulatedDevice::SimulatedDevice(asio::io_context& io_context, SimulatedDeviceOptions options)
    : io_context_(io_context),
      options_(std::move(options)),
      layout_(options_.root, options_.app),
      record_(agent::InitialRecord(options_.app)) {}

SimulatedDevice::~SimulatedDevice() {
  *alive_ = false;
  Stop();
}

Status SimulatedDevice::Start() {
  if (session_) return vigil::Fail(ErrorCode::kAlreadyExists, "the device was started already");
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(options_.root, 0700));
  VIGIL_RETURN_IF_ERROR(layout_.Create());
  options_.session.downloads_directory = options_.root / "downloads";
  delivery::DeviceSessionCallbacks callbacks{
      .app_statuses =
          [this] {
            return std::vector<delivery::AppStatus>{{.app = options_.app,
                                                     .running_version = record_.from.version,
                                                     .staged_version = StagedVersion()}};
          },
      .accept_offer =
          [this](const delivery::VerifiedRelease& release) { return WantsRelease(release); },
      .on_bundle =
          [this](const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                 std::chrono::microseconds transmission) {
            OnBundle(release, bundle, transmission);
          },
      .on_event = nullptr};
  session_ = std::make_unique<delivery::DeviceSession>(io_context_, std::move(options_.session),
                                                       std::move(callbacks));
  if (options_.staged) VIGIL_RETURN_IF_ERROR(StartActivationTracker());
  return session_->Start();
}

// The agent daemon's wiring (agent/daemon.cc), with the simulated updater behind the hooks.
Status SimulatedDevice::StartActivationTracker() {
  activations_ = std::make_unique<agent::ActivationTracker>(
      options_.root / "activations",
      agent::ActivationHooks{
          .running_version = [this](const std::string&) { return record_.from.version; },
          .staged_version = [this](const std::string&) { return StagedVersion(); },
          .activate =
              [this](const std::string&, const std::string& note) {
                if (record_.state != UpdaterState::kStaged) return false;
                Request(Outcome(EventKind::kActivate, note));
                return true;
              },
          .missing =
              [this](const delivery::VerifiedActivation&, bool halt, const std::string& detail) {
                // The bench activates a version every device has staged: missing is a failure.
                Failed(std::string(halt ? "halted: " : "behind: ") + detail);
              },
          .log = nullptr});
  VIGIL_RETURN_IF_ERROR(activations_->Load());
  session_->SetActivationCallbacks(delivery::ActivationCallbacks{
      .on_welcome = [this](const std::string& group) { activations_->set_group(group); },
      .on_activation =
          [this](const delivery::VerifiedActivation& activation) {
            if (Status kept = activations_->OnActivation(activation); !kept) {
              Failed("cannot keep the activation: " + kept.error().message());
            }
          },
      .on_ledger_header =
          [this](const ledger::BlockHeader& header) {
            activations_->OnHeader(header.height, header.time_ms);
          }});
  return Ok();
}

std::string SimulatedDevice::StagedVersion() const {
  return record_.state == UpdaterState::kStaged ? record_.to.version : "";
}

void SimulatedDevice::Stop() {
  if (session_) session_->Stop();
}

// The agent's rules (UpdaterRunner::WantsRelease, AgentDaemon::AcceptOffer) for the one app:
// between installs, newer than what runs — or, while an activation is pending, only its version.
bool SimulatedDevice::WantsRelease(const delivery::VerifiedRelease& release) const {
  bool between_installs = record_.state == UpdaterState::kIdle ||
                          (options_.staged && record_.state == UpdaterState::kStaged);
  if (release.app != options_.app || !between_installs || busy_ || !queued_.empty()) return false;
  bool newer = record_.from.empty();
  if (!newer) {
    auto offered = ledger::SemanticVersion::Parse(release.version);
    auto running = ledger::SemanticVersion::Parse(record_.from.version);
    newer = offered && running && offered->IsNewerThan(*running);
  }
  if (!activations_) return newer;
  return agent::AcceptsOffer(activations_->activation(options_.app), release.version,
                             record_.from.version, StagedVersion(), newer);
}

void SimulatedDevice::OnBundle(const delivery::VerifiedRelease& release,
                               const std::filesystem::path& bundle,
                               std::chrono::microseconds transmission) {
  bytes_received_ += release.bundle_size_bytes;
  if (options_.on_milestone) options_.on_milestone(options_.index, Milestone::kDownloaded);
  agent::Event ready;
  ready.kind = EventKind::kBundleReady;
  ready.release = {.version = release.version,
                   .bundle_digest = release.bundle_digest,
                   .manifest_root = release.manifest_root,
                   .slot = agent::SlotName(release.version, release.bundle_digest)};
  ready.bundle_path = std::filesystem::absolute(bundle).string();
  ready.transmission_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(transmission).count());
  Request(std::move(ready));
  // Seed 001's flow, as the agent does it: activate as soon as it is installed.
  if (!options_.staged) Request(Outcome(EventKind::kActivate));
}

void SimulatedDevice::Request(agent::Event event) {
  queued_.push_back(std::move(event));
  DrainQueue();
}

void SimulatedDevice::DrainQueue() {
  while (!busy_ && !queued_.empty()) {
    agent::Event next = std::move(queued_.front());
    queued_.pop_front();
    next.now_ms = NowMs();
    Apply(agent::Next(record_, next));
  }
}

void SimulatedDevice::Feed(const agent::Event& event) {
  busy_ = false;
  Apply(agent::Next(record_, event));
  DrainQueue();  // the activation queued behind the install
}

void SimulatedDevice::Apply(agent::Transition transition) {
  if (!transition.changed) return;
  // The agent's contract: persist BEFORE acting.
  if (auto written =
          WriteFileAtomically(layout_.record(), agent::EncodeRecord(transition.record), 0644);
      !written) {
    return Failed("cannot write " + layout_.record().string() + ": " + written.error().message());
  }
  record_ = transition.record;
  if (record_.state == UpdaterState::kStaged && options_.on_milestone) {
    options_.on_milestone(options_.index, Milestone::kInstalled);
  }
  if (record_.state == UpdaterState::kCommitting && options_.on_milestone) {
    options_.on_milestone(options_.index, Milestone::kActivated);
  }
  if (record_.state == UpdaterState::kRolledBack) Failed("rolled back: " + record_.reason);
  // Staged (or back to idle): an effective activation may be waiting for exactly this.
  if (activations_ &&
      (record_.state == UpdaterState::kStaged || record_.state == UpdaterState::kIdle)) {
    asio::post(io_context_, [this, alive = alive_] {
      if (*alive) activations_->Reevaluate(options_.app);
    });
  }
  const auto& actions = transition.actions;
  busy_ = !actions.empty() && agent::HasOutcome(actions.back().kind);
  for (size_t i = 0; i < actions.size(); ++i) Execute(actions[i], i + 1 == actions.size());
}

void SimulatedDevice::Finish(bool last, agent::Event event) {
  if (!last) return;
  asio::post(io_context_, [this, alive = alive_, event] {
    if (*alive) Feed(event);
  });
}

void SimulatedDevice::Execute(const agent::Action& action, bool last) {
  switch (action.kind) {
    case ActionKind::kUnpack:
      return Unpack(action);
    case ActionKind::kDeleteSlot:
      (void)agent::DeleteSlot(layout_, action.slot);
      return;
    case ActionKind::kDeleteBundle: {
      std::error_code ignored;
      if (!action.bundle_path.empty()) std::filesystem::remove(action.bundle_path, ignored);
      return;
    }
    case ActionKind::kCollectGarbage: {
      std::set<std::string> keep;
      if (!record_.to.empty()) keep.insert(record_.to.slot);
      if (!record_.from.empty()) keep.insert(record_.from.slot);
      (void)agent::CollectGarbage(layout_, keep);
      return;
    }
    // No app process (see the header): these succeed at once.
    case ActionKind::kStopApp:
      return Finish(last, Outcome(EventKind::kAppStopped));
    case ActionKind::kStartApp:
      return Finish(last, Outcome(EventKind::kAppStarted));
    case ActionKind::kRunHealthCheck:
      return Finish(last, Outcome(EventKind::kHealthPassed));
    // The bench's release has no install hooks, which passes them (as the agent does).
    case ActionKind::kRunPreActivate:
    case ActionKind::kRunPostActivate:
      return Finish(last, Outcome(EventKind::kHookPassed));
    case ActionKind::kSwitchCurrent: {
      Status status = agent::SwitchLink(layout_.current(), action.slot);
      if (status) status = agent::SwitchLink(layout_.previous(), action.previous_slot);
      if (!status) Failed("switching current: " + status.error().message());
      return Finish(last, status ? Outcome(EventKind::kSwitched)
                                 : Outcome(EventKind::kSwitchFailed, status.error().ToString()));
    }
    case ActionKind::kSendReport: {
      bool activated = action.report.report_kind == ledger::DeviceReportKind::kActivated;
      session_->SendReport(
          action.report, [this, alive = alive_, last, activated,
                          kind = std::string(ledger::DeviceReportKindName(
                              action.report.report_kind))](const delivery::ReportResult& result) {
            if (!*alive) return;
            bool committed =
                result.outcome == delivery::ReportOutcome::kCommitted && result.result.ok();
            if (!committed) {
              Failed("the ledger refused the " + kind + " report: " + result.result.reason);
            } else if (activated && options_.on_milestone) {
              options_.on_milestone(options_.index, Milestone::kActivationCommitted);
            }
            Finish(last, Outcome(EventKind::kReportAccepted));
          });
      return;
    }
  }
}

// The agent's unpack step (UpdaterRunner::Unpack): agent::InstallRelease, which unpacks into a
// hidden directory, verifies and fsyncs every file and renames it into place.
void SimulatedDevice::Unpack(const agent::Action& action) {
  auto work = [this, alive = alive_, layout = layout_, to = record_.to,
               bundle = action.bundle_path] {
    agent::Event event;
    if (auto installed =
            agent::InstallRelease(layout, to.slot, bundle, to.manifest_root, to.version);
        !installed) {
      event = Outcome(EventKind::kUnpackFailed, installed.error().ToString());
    } else {
      event = Outcome(EventKind::kUnpacked);
      event.verification_ms = static_cast<uint64_t>(installed->verification.count());
    }
    if (event.kind == EventKind::kUnpackFailed) {
      asio::post(io_context_, [this, alive, reason = event.reason] {
        if (*alive) Failed("unpacking: " + reason);
      });
    }
    asio::post(io_context_, [this, alive, event] {
      if (*alive) Feed(event);
    });
  };
  options_.run_blocking(std::move(work));
}

void SimulatedDevice::Failed(const std::string& what) {
  if (options_.on_failure) options_.on_failure(options_.index, what);
}

}  // namespace vigil::rollout
