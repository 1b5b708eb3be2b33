// `vigil agent --config FILE`: run the device agent until SIGINT or SIGTERM (docs/agent.md).
#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <csignal>
#include <memory>
#include <string>

#include "agent/daemon.h"
#include "agent/service_notify.h"
#include "cli/commands.h"
#include "common/log.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "agent";

Status RunAgent(const std::string& config_path) {
  VIGIL_ASSIGN_OR_RETURN(agent::AgentConfig config, agent::LoadAgentConfig(config_path));
  std::string name = config.name;
  asio::io_context loop;
  agent::AgentDaemon daemon(loop, std::move(config));
  VIGIL_RETURN_IF_ERROR(daemon.Start());
  spdlog::info("agent {} started", name);
  // Under systemd (Type=notify, WatchdogSec=): ready now, keep-alives from this loop.
  ServiceNotifier notifier(loop);
  notifier.Ready("agent " + name + " started");
  asio::signal_set signals(loop, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("agent {} stopping signal={}", name, signal_number);
    notifier.Stopping();
    daemon.Stop();
    loop.stop();
  });
  loop.run();
  return Ok();
}

}  // namespace

void RegisterAgentCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Run the device agent: keeps a mutual-TLS session with its gateway, verifies every offer "
      "against the ledger, installs into a new slot, activates with a health check and rolls "
      "back on failure, supervises the app, and reports each step to the ledger.");
  auto config = std::make_shared<std::string>();
  command->add_option("--config", *config, "The agent's TOML file (docs/agent.md)")
      ->required()
      ->check(CLI::ExistingFile);
  command->callback([config, &context] {
    if (Status status = RunAgent(*config); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderAgent, RegisterAgentCommand);

}  // namespace vigil::cli
