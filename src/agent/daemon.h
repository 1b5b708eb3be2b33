// `vigil agent`: the device's daemon (the seed's Device). It joins the two halves of the agent:
// the network side, a DeviceSession with the gateway (delivery/device_session.h), which hands
// over verified, downloaded bundles, verified activations and ledger headers, and carries signed
// reports; and the update side, the UpdaterRunner (updater_runner.h), which installs, activates,
// health-checks, rolls back and supervises. A staged release is activated when the ledger's
// coordinated activation for this device's group takes effect (activation.h), or right after it
// is installed for the apps listed in `auto_activate` (seed 001's flow).
//
// The configuration file (TOML; paths relative to its directory; docs/agent.md#configuration):
//
//   name = "device-1"
//   node_dir = "node"              # key.pem, cert.pem, ca.pem: `vigil pki issue --role device`
//   genesis = "../genesis.json"    # its validators are what every offer is checked against
//   gateway = "127.0.0.1:7401"
//   root = "state"                 # slots, records, downloads, app logs
//   apps = ["press-control"]       # the apps this device runs (asked for before any install)
//   auto_activate = []             # apps activated as soon as installed (no ledger activation)
//
// Thread-safety: one io_context thread, like its two halves.
#pragma once

#include <algorithm>
#include <asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/activation.h"
#include "agent/integrity_monitor.h"
#include "agent/updater_runner.h"
#include "common/error.h"
#include "delivery/device_session.h"

namespace vigil::agent {

struct AgentConfig {
  std::string name;
  delivery::DeviceSessionOptions session;  // moved into the session by Start()
  std::filesystem::path root;
  std::vector<std::string> apps;  // sorted, unique
  // Apps activated right after they are installed, with no activation on the ledger (seed
  // 001's flow); sorted, unique. Every other app waits for a coordinated activation.
  std::vector<std::string> auto_activate;
  // [integrity]: the integrity monitor (root set by the daemon); nullopt = disabled.
  std::optional<IntegrityMonitorOptions> integrity;
};

Expected<AgentConfig> ParseAgentConfig(std::string_view text,
                                       const std::filesystem::path& directory);
Expected<AgentConfig> LoadAgentConfig(const std::filesystem::path& path);

class AgentDaemon {
 public:
  AgentDaemon(asio::io_context& io_context, AgentConfig config,
              UpdaterRunnerOptions runner_options = {});
  ~AgentDaemon();
  AgentDaemon(const AgentDaemon&) = delete;
  AgentDaemon& operator=(const AgentDaemon&) = delete;

  // Recovers every app (UpdaterRunner::Start), then connects to the gateway.
  Status Start();
  void Stop();

  const UpdaterRunner& runner() const { return *runner_; }
  bool connected() const { return session_ && session_->connected(); }
  const IntegrityMonitor* integrity() const { return integrity_.get(); }

 private:
  std::vector<delivery::AppStatus> AppStatuses() const;
  // The version staged for `app` and ready to activate ("" when none).
  std::string StagedVersion(const std::string& app) const;
  bool AcceptOffer(const delivery::VerifiedRelease& release) const;
  bool AutoActivates(const std::string& app) const {
    return std::ranges::binary_search(config_.auto_activate, app);
  }
  void OnMissingVersion(const delivery::VerifiedActivation& activation, bool halt,
                        const std::string& detail);
  void OnBundle(const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                std::chrono::microseconds transmission);
  void SendReport(const ledger::DeviceReport& report, std::function<void()> accepted);

  asio::io_context& io_context_;
  AgentConfig config_;
  std::unique_ptr<UpdaterRunner> runner_;
  std::unique_ptr<ActivationTracker> activations_;
  std::unique_ptr<delivery::DeviceSession> session_;
  std::unique_ptr<IntegrityMonitor> integrity_;  // after runner_: destroyed first
  // Releases the integrity monitor asked for again (damaged pristine copies): their offers
  // are taken and their bundles go to the monitor, not to the updater.
  std::set<std::pair<std::string, std::string>> repair_fetches_;  // (app, version)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::agent
