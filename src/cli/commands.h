// The subcommands of the `vigil` multi-call binary. Each lives in its own *_command.cc and
// adds itself to the CLI11 application in main.cc, in the order `vigil --help` lists them.
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

void RegisterKeygenCommand(CLI::App& app, CommandContext& context);
void RegisterPkiCommand(CLI::App& app, CommandContext& context);
void RegisterDemoCommand(CLI::App& app, CommandContext& context);

}  // namespace vigil::cli
