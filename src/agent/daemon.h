// `vigil agent`: the device's daemon (the seed's Device). It joins the two halves of the agent:
// the network side, a DeviceSession with the gateway (delivery/device_session.h), which hands
// over verified, downloaded bundles and carries signed reports; and the update side, the
// UpdaterRunner (updater_runner.h), which installs, activates, health-checks, rolls back and
// supervises. Until the Coordinated activation issue, a release is activated right after it is
// installed.
//
// The configuration file (TOML; paths relative to its directory; docs/agent.md#configuration):
//
//   name = "device-1"
//   node_dir = "node"              # key.pem, cert.pem, ca.pem: `vigil pki issue --role device`
//   genesis = "../genesis.json"    # its validators are what every offer is checked against
//   gateway = "127.0.0.1:7401"
//   root = "state"                 # slots, records, downloads, app logs
//   apps = ["press-control"]       # the apps this device runs (asked for before any install)
//
// Thread-safety: one io_context thread, like its two halves.
#pragma once

#include <asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // [integrity]: the integrity monitor (root set by the daemon); nullopt = disabled.
  std::optional<IntegrityMonitorOptions> integrity;
};

Expected<AgentConfig> ParseAgentConfig(std::string_view text, const std::filesystem::path& directory);
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
  bool AcceptOffer(const delivery::VerifiedRelease& release) const;
  void OnBundle(const delivery::VerifiedRelease& release, const std::filesystem::path& bundle,
                std::chrono::microseconds transmission);
  void SendReport(const ledger::DeviceReport& report, std::function<void()> accepted);

  asio::io_context& io_context_;
  AgentConfig config_;
  std::unique_ptr<UpdaterRunner> runner_;
  std::unique_ptr<delivery::DeviceSession> session_;
  std::unique_ptr<IntegrityMonitor> integrity_;  // after runner_: destroyed first
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::agent
