// The subcommands of the `vigil` multi-call binary. Each lives in its own *_command.cc and
// registers itself with one line at namespace scope:
//
//   VIGIL_REGISTER_COMMAND(kOrderKeygen, RegisterKeygenCommand);
//
// main.cc adds every registered command to the CLI11 application in `order`, which is the
// order `vigil --help` lists them; a new command needs no edit anywhere else.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string_view>

#include "common/error.h"

namespace vigil::cli {

// Exit status of the whole program; a command's callback sets it on failure.
struct CommandContext {
  int exit_code = 0;
};

// Prints "vigil <command>: <error>" to stderr and records exit status 1.
void ReportError(CommandContext& context, std::string_view command, const Error& error);

// Prints one JSON object on one line to stdout: the `--json` output of every command.
void PrintJson(const nlohmann::json& object);

using RegisterFunction = void (*)(CLI::App& app, CommandContext& context);

// Where each command appears in `vigil --help`: operators' first steps first.
enum CommandOrder : int {
  kOrderDemo = 10,
  kOrderKeygen = 20,
  kOrderPki = 30,
  kOrderGenesis = 40,
  kOrderCluster = 50,
  kOrderPeer = 60,
  kOrderRelease = 62,
  kOrderPublish = 64,
  kOrderGateway = 66,
  kOrderAgent = 68,
  kOrderTx = 70,
  kOrderActivate = 72,
  kOrderStatus = 75,
  kOrderCompliance = 77,
  kOrderLedger = 80,
  kOrderHistory = 85,
  kOrderAudit = 90,
  kOrderSim = 100,
  kOrderBench = 110,
};

// Adds `register_function` to the list main.cc walks. Use VIGIL_REGISTER_COMMAND.
struct CommandRegistration {
  CommandRegistration(int order, RegisterFunction register_function);
};
// Calls every registered function in order (main.cc).
void RegisterAllCommands(CLI::App& app, CommandContext& context);

#define VIGIL_REGISTER_COMMAND(order, function) \
  static const ::vigil::cli::CommandRegistration vigil_command_registration_##function(order, function)

}  // namespace vigil::cli
