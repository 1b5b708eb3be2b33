// `vigil peer --config FILE`: run one ledger peer until SIGINT or SIGTERM (docs/peer.md).
#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "agent/service_notify.h"
#include "cli/commands.h"
#include "common/log.h"
#include "peer/config.h"
#include "peer/node.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "peer";
// The exit status of a peer that halted while running (a rules version this binary lacks, a
// store it cannot write): starting the same binary again does not help, so the systemd unit
// does not restart on it (RestartPreventExitStatus=3 in deploy/vigil-peer.service).
constexpr int kExitHalted = 3;

struct PeerCommandOptions {
  std::string config;
  std::string byzantine;                      // test only
  std::optional<uint32_t> max_rules_version;  // simulates an older binary
};

// `halted` is set when the node stopped on a fatal error after it had started.
Status RunPeer(const PeerCommandOptions& command, bool& halted) {
  VIGIL_ASSIGN_OR_RETURN(peer::PeerOptions options, peer::LoadPeerConfig(command.config));
  if (command.byzantine == "equivocate") {
    options.byzantine = peer::ByzantineMode::kEquivocate;
  } else if (command.byzantine == "replay-committed") {
    options.byzantine = peer::ByzantineMode::kReplayCommitted;
  } else if (!command.byzantine.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--test-byzantine: unknown mode '" +
                                                 command.byzantine +
                                                 "' (known: equivocate, replay-committed)");
  }
  if (!command.byzantine.empty()) {
    spdlog::warn("peer test_mode byzantine={}: this peer misbehaves on purpose",
                 command.byzantine);
  }
  if (command.max_rules_version) options.max_rules_version = *command.max_rules_version;
  asio::io_context io_context;
  std::string name = options.name;
  VIGIL_ASSIGN_OR_RETURN(auto node, peer::PeerNode::Start(io_context, std::move(options)));
  // Under systemd (Type=notify, WatchdogSec=): ready once the store is open and the listeners
  // are up, then keep-alives from this loop (a stuck loop stops them and systemd restarts it).
  ServiceNotifier notifier(io_context);
  notifier.Ready("peer " + name + " at height " + std::to_string(node->height()) +
                 ", client API on port " + std::to_string(node->port()));
  asio::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("peer stopping signal={} height={}", signal_number, node->height());
    notifier.Stopping();
    node->Stop();
  });
  // A halt (a rules version this binary lacks, a store that cannot be written) ends the process
  // with the node's error; nothing else may keep the loop alive.
  node->set_on_halt([&] {
    notifier.Stopping();
    asio::error_code ignored;
    signals.cancel(ignored);
    io_context.stop();
  });
  io_context.run();
  if (node->fatal_error()) {
    halted = true;
    return std::unexpected(*node->fatal_error());
  }
  return Ok();
}

}  // namespace

void RegisterPeerCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Run a ledger peer: a validator (or follower) of the chain its genesis names, serving the "
      "client API on its listen address. Stops cleanly on SIGINT/SIGTERM; survives kill -9.");
  auto options = std::make_shared<PeerCommandOptions>();
  command->add_option("--config", options->config, "The peer's TOML file (docs/peer.md)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--test-byzantine", options->byzantine,
                      "TESTS ONLY: misbehave on purpose (equivocate, replay-committed)");
  command
      ->add_option("--max-rules-version", options->max_rules_version,
                   "Execute contract-rules versions up to V only, as an older binary would: "
                   "halt before a block under a later version (docs/peer.md)")
      ->check(CLI::Range(1u, 1'000'000u));
  command->callback([options, &context] {
    bool halted = false;
    if (Status status = RunPeer(*options, halted); !status) {
      ReportError(context, kCommandName, status.error());
      if (halted) context.exit_code = kExitHalted;
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderPeer, RegisterPeerCommand);

}  // namespace vigil::cli
