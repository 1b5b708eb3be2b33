// `vigil gateway --config FILE`: run a gateway until SIGINT or SIGTERM (docs/gateway.md).
#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <csignal>
#include <memory>
#include <string>

#include "agent/service_notify.h"
#include "cli/commands.h"
#include "common/log.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/mirror_fetch.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "gateway";

Status RunGateway(const std::string& config_path) {
  VIGIL_ASSIGN_OR_RETURN(gateway::GatewayConfig config, gateway::LoadGatewayConfig(config_path));
  asio::io_context loop;
  gateway::FetchFunction fetch =
      gateway::MakeMirrorFetch(config.mirrors, {.ca_file = config.ca_file});
  VIGIL_ASSIGN_OR_RETURN(
      auto running, gateway::Gateway::Start(loop, std::move(config.options), std::move(fetch)));
  spdlog::info("gateway {} serving devices on port {}", config.name, running->port());
  // Under systemd (Type=notify, WatchdogSec=): ready now, keep-alives from this loop.
  ServiceNotifier notifier(loop);
  notifier.Ready("gateway " + config.name + " serving devices on port " +
                 std::to_string(running->port()));
  asio::signal_set signals(loop, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("gateway stopping signal={}", signal_number);
    notifier.Stopping();
    running->Stop();
    loop.stop();
  });
  loop.run();
  return Ok();
}

}  // namespace

void RegisterGatewayCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Run a gateway: follows the ledger as a verifying light client, fetches and verifies "
      "releases from the artifact mirrors, and serves its devices over mutual TLS.");
  auto config = std::make_shared<std::string>();
  command->add_option("--config", *config, "The gateway's TOML file (docs/gateway.md)")
      ->required()
      ->check(CLI::ExistingFile);
  command->callback([config, &context] {
    if (Status status = RunGateway(*config); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderGateway, RegisterGatewayCommand);

}  // namespace vigil::cli
