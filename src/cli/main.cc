// vigil: one binary for the ledger peer, gateway, device agent, operator commands and demo.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "common/log.h"

namespace vigil::cli {

void ReportError(CommandContext& context, std::string_view command, const Error& error) {
  std::fprintf(stderr, "vigil %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               error.message().c_str());
  context.exit_code = 1;
}

void PrintJson(const nlohmann::json& object) { std::printf("%s\n", object.dump().c_str()); }

namespace {
// Filled by static initializers of the *_command.cc files, before main runs.
std::vector<std::pair<int, RegisterFunction>>& Registrations() {
  static std::vector<std::pair<int, RegisterFunction>> registrations;
  return registrations;
}
}  // namespace

CommandRegistration::CommandRegistration(int order, RegisterFunction register_function) {
  Registrations().emplace_back(order, register_function);
}

void RegisterAllCommands(CLI::App& app, CommandContext& context) {
  auto registrations = Registrations();
  // Each command has its own order constant, so a plain sort is deterministic.
  std::ranges::sort(registrations, {}, &std::pair<int, RegisterFunction>::first);
  for (const auto& [order, register_function] : registrations) register_function(app, context);
}

}  // namespace vigil::cli

int main(int argc, char** argv) {
  CLI::App app{
      "Vigil keeps factory device software authentic, current and always running, and proves "
      "it on a Byzantine fault-tolerant ledger."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vigil ") + VIGIL_VERSION);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.parse_complete_callback([&] { vigil::InitLogging(log_level); });

  vigil::cli::CommandContext context;
  vigil::cli::RegisterAllCommands(app, context);

  CLI11_PARSE(app, argc, argv);
  return context.exit_code;
}
