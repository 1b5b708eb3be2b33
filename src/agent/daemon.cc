#include "agent/daemon.h"

#include <algorithm>

#include "common/config_file.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "pki/pki.h"

namespace vigil::agent {
namespace {

Expected<AgentConfig> FromTable(const toml::table& root, const std::filesystem::path& directory) {
  VIGIL_RETURN_IF_ERROR(config::RefuseUnknownKeys(
      root, "config", {"name", "node_dir", "genesis", "gateway", "root", "apps",
       "integrity", "auto_activate"}));
  VIGIL_ASSIGN_OR_RETURN(std::string name, config::RequiredString(root, "name"));
  VIGIL_ASSIGN_OR_RETURN(std::string node_dir, config::RequiredString(root, "node_dir"));
  VIGIL_ASSIGN_OR_RETURN(std::string genesis, config::RequiredString(root, "genesis"));
  VIGIL_ASSIGN_OR_RETURN(std::string gateway, config::RequiredString(root, "gateway"));
  VIGIL_ASSIGN_OR_RETURN(std::string state_root, config::OptionalString(root, "root", "state"));
  VIGIL_ASSIGN_OR_RETURN(auto apps,
                         config::StringList(root, "apps", limits::kConfigListEntriesMax));
  std::ranges::sort(apps);
  apps.erase(std::unique(apps.begin(), apps.end()), apps.end());
  VIGIL_ASSIGN_OR_RETURN(auto integrity, ParseIntegrityConfig(root));
  VIGIL_ASSIGN_OR_RETURN(auto auto_activate,
                         config::StringList(root, "auto_activate", limits::kConfigListEntriesMax));
  std::ranges::sort(auto_activate);
  auto_activate.erase(std::unique(auto_activate.begin(), auto_activate.end()), auto_activate.end());

  auto credentials = pki::LoadNodeDirectory(directory / node_dir);
  if (!credentials) {
    return std::unexpected(
        credentials.error().WithContext("node_dir " + (directory / node_dir).string()));
  }
  VIGIL_ASSIGN_OR_RETURN(pki::Identity identity, credentials->certificate.GetIdentity());
  if (identity.role != pki::Role::kDevice) {
    return Fail(ErrorCode::kInvalidArgument,
                "node_dir " + (directory / node_dir).string() + " holds a certificate of role " +
                    std::string(pki::RoleName(identity.role)) +
                    ", not device: issue one with `vigil pki issue --role device`");
  }
  auto parsed_genesis = ledger::ReadGenesisFile(directory / genesis);
  if (!parsed_genesis) {
    return std::unexpected(
        parsed_genesis.error().WithContext("genesis " + (directory / genesis).string()));
  }
  VIGIL_ASSIGN_OR_RETURN(auto gateway_at, config::ParseHostPort("gateway", gateway));
  std::filesystem::path state = directory / state_root;
  return AgentConfig{
      .name = std::move(name),
      .session =
          delivery::DeviceSessionOptions{.credentials = std::move(*credentials),
                                         .genesis = std::move(*parsed_genesis),
                                         .gateway_host = gateway_at.first,
                                         .gateway_port = gateway_at.second,
                                         .gateway_name = std::nullopt,
                                         .downloads_directory = state / "downloads",
                                         .chunk_bytes = limits::kDeliveryChunkBytesDefault,
                                         .chunks_in_flight = limits::kAgentChunksInFlightDefault,
                                         .reconnect = {},
                                         .seed = std::hash<std::string>{}(identity.name)},
      .root = state,
      .apps = std::move(apps),
      .auto_activate = std::move(auto_activate),
      .integrity = std::move(integrity)};
}

}  // namespace

Expected<AgentConfig> ParseAgentConfig(std::string_view text,
                                       const std::filesystem::path& directory) {
  VIGIL_ASSIGN_OR_RETURN(toml::table root, config::ParseToml(text));
  return FromTable(root, directory);
}

Expected<AgentConfig> LoadAgentConfig(const std::filesystem::path& path) {
  VIGIL_ASSIGN_OR_RETURN(toml::table root, config::LoadTomlFile(path));
  auto result = FromTable(root, path.parent_path());
  if (!result) return std::unexpected(result.error().WithContext(path.string()));
  return result;
}

AgentDaemon::AgentDaemon(asio::io_context& io_context, AgentConfig config,
                         UpdaterRunnerOptions runner_options)
    : io_context_(io_context), config_(std::move(config)) {
  runner_options.root = config_.root;
  runner_ = std::make_unique<UpdaterRunner>(
      io_context_, std::move(runner_options),
      [this](const ledger::DeviceReport& report, std::function<void()> accepted) {
        SendReport(report, std::move(accepted));
      });
  activations_ = std::make_unique<ActivationTracker>(
      config_.root / "activations",
      ActivationHooks{
          .running_version =
              [this](const std::string& app) { return runner_->running_version(app); },
          .staged_version = [this](const std::string& app) { return StagedVersion(app); },
          .activate =
              [this](const std::string& app, const std::string& note) {
                Status activating = runner_->Activate(app, note);
                if (!activating) {
                  spdlog::warn("agent {}: cannot activate {} now: {}", config_.name, app,
                               activating.error().message());
                }
                return activating.has_value();
              },
          .missing = [this](
                         const delivery::VerifiedActivation& activation, bool halt,
                         const std::string& detail) { OnMissingVersion(activation, halt, detail); },
          .log =
              [this](const std::string& line) {
                spdlog::info("agent {}: {}", config_.name, line);
              }});
}

AgentDaemon::~AgentDaemon() {
  *alive_ = false;
  Stop();
}

Status AgentDaemon::Start() {
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(config_.root, 0700));
  VIGIL_RETURN_IF_ERROR(EnsureDirectory(config_.session.downloads_directory, 0700));
  VIGIL_RETURN_IF_ERROR(runner_->Start());
  if (config_.integrity) {
    IntegrityMonitorOptions integrity = *config_.integrity;
    integrity.root = config_.root;
    integrity_ = std::make_unique<IntegrityMonitor>(
        io_context_, std::move(integrity),
        IntegrityMonitorHooks{
            .sink = [this](const ledger::DeviceReport& report, std::function<void()> accepted) {
              SendReport(report, std::move(accepted));
            },
            .supervisor = [this](const std::string& app) { return runner_->supervisor(app); },
            .settled = [this](const std::string& app) { return runner_->settled(app); },
            .staged_slot = [this](const std::string& app) -> std::string {
              auto record = runner_->record(app);
              return record && record->state == UpdaterState::kStaged ? record->to.slot : "";
            },
            .request_release =
                [this](const std::string& app, const std::string& version) {
                  repair_fetches_.emplace(app, version);
                  if (session_) session_->RequestRelease(app, version);
                }});
    VIGIL_RETURN_IF_ERROR(integrity_->Start());
  }
  VIGIL_RETURN_IF_ERROR(activations_->Load());
  // What runs or is staged changed: tell the gateway, so it offers what is still missing.
  runner_->set_on_transition([this](const UpdaterRecord& record) {
    spdlog::info("agent {}: {} {} -> {}", config_.name, record.app, UpdaterStateName(record.state),
                 record.to.version.empty() ? record.from.version : record.to.version);
    if (session_) session_->SendHello();
    if (integrity_) {
      integrity_->Refresh();  // a release was staged or activated
      // Settled after an activation (its report answered): a snapshot after it, so the
      // ledger can judge the device compliant with what it now runs.
      if (record.state == UpdaterState::kIdle && !record.from.version.empty()) {
        integrity_->ReportSnapshot(record.app, "running " + record.from.version);
      }
    }
    // Staged (or back to idle): an effective activation may be waiting for exactly this.
    if (record.state == UpdaterState::kStaged || record.state == UpdaterState::kIdle) {
      std::string app = record.app;
      asio::post(io_context_, [this, alive = std::weak_ptr<bool>(alive_), app] {
        if (alive.lock()) activations_->Reevaluate(app);
      });
    }
  });
  delivery::DeviceSessionCallbacks callbacks{
      .app_statuses = [this] { return AppStatuses(); },
      .accept_offer =
          [this](const delivery::VerifiedRelease& release) { return AcceptOffer(release); },
      .on_bundle =
          [this](const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                 std::chrono::microseconds transmission) {
            OnBundle(release, bundle, transmission);
          },
      .on_event =
          [this](const std::string& event) { spdlog::info("agent {}: {}", config_.name, event); }};
  session_ = std::make_unique<delivery::DeviceSession>(io_context_, std::move(config_.session),
                                                       std::move(callbacks));
  session_->SetActivationCallbacks(delivery::ActivationCallbacks{
      .on_welcome = [this](const std::string& group) { activations_->set_group(group); },
      .on_activation =
          [this](const delivery::VerifiedActivation& activation) {
            if (Status kept = activations_->OnActivation(activation); !kept) {
              spdlog::error("agent {}: cannot keep the activation of {} {}: {}", config_.name,
                            activation.app, activation.version, kept.error().message());
            }
          },
      .on_ledger_header =
          [this](const ledger::BlockHeader& header) {
            activations_->OnHeader(header.height, header.time_ms);
          }});
  return session_->Start();
}

void AgentDaemon::Stop() {
  if (session_) session_->Stop();
}

std::vector<delivery::AppStatus> AgentDaemon::AppStatuses() const {
  std::vector<delivery::AppStatus> statuses = runner_->AppStatuses();
  for (const std::string& app : config_.apps) {
    bool known =
        std::ranges::any_of(statuses, [&](const auto& status) { return status.app == app; });
    if (!known) {
      statuses.push_back({.app = app, .running_version = "", .staged_version = ""});
    }
  }
  std::ranges::sort(statuses, {}, &delivery::AppStatus::app);
  return statuses;
}

std::string AgentDaemon::StagedVersion(const std::string& app) const {
  auto record = runner_->record(app);
  // Staged, even while its `installed` report is still on its way: an activation queues
  // behind it.
  if (!record || record->state != UpdaterState::kStaged) return "";
  return record->to.version;
}

bool AgentDaemon::AcceptOffer(const delivery::VerifiedRelease& release) const {
  if (repair_fetches_.contains({release.app, release.version})) return true;  // for a repair
  if (!std::ranges::binary_search(config_.apps, release.app) &&
      runner_->running_version(release.app).empty()) {
    return false;  // not an app this device runs
  }
  // Only between installs (Idle or Staged); while an activation is pending, only its version
  // (older ones too: a downgrade), so nothing replaces it in the staged slot before it switches.
  auto record = runner_->record(release.app);
  if (record && (record->state != UpdaterState::kIdle && record->state != UpdaterState::kStaged)) {
    return false;
  }
  return AcceptsOffer(activations_->activation(release.app), release.version,
                      runner_->running_version(release.app), StagedVersion(release.app),
                      runner_->WantsRelease(release));
}

void AgentDaemon::OnMissingVersion(const delivery::VerifiedActivation& activation, bool halt,
                                   const std::string& detail) {
  if (halt) {
    if (Status halted = runner_->Halt(activation.app); !halted) {
      spdlog::warn("agent {}: cannot halt {}: {}", config_.name, activation.app,
                   halted.error().message());
    }
  }
  // Reported as `rolled back` of the effective version: the ledger's active version does not
  // change, and the detail says halted or behind (no new report kind, no ledger change).
  ledger::DeviceReport report{
      .report_kind = ledger::DeviceReportKind::kRolledBack,
      .app = activation.app,
      .version = activation.version,
      .observed_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count(),
      .snapshot_root = std::nullopt,
      .files_changed = 0,
      .duration_ms = 0,
      .detail = detail.substr(0, limits::kLedgerDetailBytesMax)};
  SendReport(report, [] {});
  if (session_) session_->SendHello();  // the gateway offers the effective version at once
}

void AgentDaemon::OnBundle(const delivery::VerifiedRelease& release,
                           const std::filesystem::path& bundle,
                           std::chrono::microseconds transmission) {
  if (repair_fetches_.erase({release.app, release.version}) > 0) {
    if (integrity_) {
      Status restored = integrity_->RestoreFromBundle(release.app, release.version,
                                                      release.manifest_root, bundle);
      if (!restored) {
        spdlog::warn("agent {}: cannot renew the pristine copies of {} {}: {}", config_.name,
                     release.app, release.version, restored.error().message());
      }
    }
    std::error_code ignored;
    std::filesystem::remove(bundle, ignored);  // the slot and the store hold its files
    return;
  }
  Status installing = runner_->Install(release, bundle, transmission);
  if (!installing) {
    spdlog::warn("agent {}: cannot install {} {} now: {}", config_.name, release.app,
                 release.version, installing.error().message());
    return;
  }
  // Seed 002: staged; the ActivationTracker activates it when the ledger says so. Seed 001's
  // flow for the apps that opted in: activate as soon as it is installed.
  if (!AutoActivates(release.app)) return;
  if (Status activating = runner_->Activate(release.app); !activating) {
    spdlog::warn("agent {}: cannot activate {} {}: {}", config_.name, release.app, release.version,
                 activating.error().message());
  }
}

void AgentDaemon::SendReport(const ledger::DeviceReport& report, std::function<void()> accepted) {
  if (!session_) {
    // Reports made during recovery, before the session exists: sent once it does.
    asio::post(io_context_, [this, alive = std::weak_ptr<bool>(alive_), report,
                             accepted = std::move(accepted)]() mutable {
      if (alive.lock()) SendReport(report, std::move(accepted));
    });
    return;
  }
  session_->SendReport(
      report, [this, report, accepted = std::move(accepted)](const delivery::ReportResult& result) {
        if (result.outcome == delivery::ReportOutcome::kCommitted && result.result.ok()) {
          spdlog::info("agent {}: report {} {} {} committed at block {}", config_.name,
                       ledger::DeviceReportKindName(report.report_kind), report.app, report.version,
                       result.height);
        } else {
          spdlog::warn("agent {}: report {} {} {} refused: {}", config_.name,
                       ledger::DeviceReportKindName(report.report_kind), report.app, report.version,
                       result.result.reason);
        }
        accepted();  // the ledger answered for good either way; resending would not change it
      });
}

}  // namespace vigil::agent
