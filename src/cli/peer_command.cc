// `vigil peer --config FILE`: run one ledger peer until SIGINT or SIGTERM (docs/peer.md).
#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "common/log.h"
#include "peer/config.h"
#include "peer/node.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "peer";

struct PeerCommandOptions {
  std::string config;
  std::string byzantine;                      // test only
  std::optional<uint32_t> max_rules_version;  // simulates an older binary
};

Status RunPeer(const PeerCommandOptions& command) {
  VIGIL_ASSIGN_OR_RETURN(peer::PeerOptions options, peer::LoadPeerConfig(command.config));
  if (command.byzantine == "equivocate") {
    options.byzantine = peer::ByzantineMode::kEquivocate;
    spdlog::warn("peer test_mode byzantine=equivocate: this peer misbehaves on purpose");
  } else if (!command.byzantine.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--test-byzantine: unknown mode '" + command.byzantine + "' (known: equivocate)");
  }
  if (command.max_rules_version) options.max_rules_version = *command.max_rules_version;
  asio::io_context io_context;
  VIGIL_ASSIGN_OR_RETURN(auto node, peer::PeerNode::Start(io_context, std::move(options)));
  asio::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("peer stopping signal={} height={}", signal_number, node->height());
    node->Stop();
  });
  // A halt (a rules version this binary lacks, a store that cannot be written) ends the process
  // with the node's error; nothing else may keep the loop alive.
  node->set_on_halt([&] {
    asio::error_code ignored;
    signals.cancel(ignored);
    io_context.stop();
  });
  io_context.run();
  if (node->fatal_error()) return std::unexpected(*node->fatal_error());
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
                      "TESTS ONLY: misbehave on purpose (equivocate)");
  command
      ->add_option("--max-rules-version", options->max_rules_version,
                   "Execute contract-rules versions up to V only, as an older binary would: "
                   "halt before a block under a later version (docs/peer.md)")
      ->check(CLI::Range(1u, 1'000'000u));
  command->callback([options, &context] {
    if (Status status = RunPeer(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderPeer, RegisterPeerCommand);

}  // namespace vigil::cli
