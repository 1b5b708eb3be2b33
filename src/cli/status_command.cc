// `vigil status --group G`: for each enrolled device of the group, per app, the staged
// (installed), effective and running (active) version, and whether the group is consistent:
// every device runs the version the ledger makes effective (docs/cli.md#vigil-status).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "api/client.h"
#include "cli/commands.h"
#include "cli/peer_target.h"
#include "common/bytes.h"

namespace vigil::cli {
namespace {

struct StatusOptions {
  PeerTarget target;
  std::string group;
  bool json = false;
};

Status RunStatus(const StatusOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::GroupResponse group, client->GetGroup(options.group));
  std::map<std::string, std::string> effective;  // app → effective version at the tip
  for (const auto& activation : group.activations) {
    effective[activation.app] =
        activation.record.EffectiveVersionAt(group.height, group.block_time_ms);
  }
  bool consistent = true;
  nlohmann::json devices = nlohmann::json::array();
  if (!options.json) {
    std::printf("group '%s' at height %llu: %zu enrolled device(s)%s\n", options.group.c_str(),
                static_cast<unsigned long long>(group.height), group.devices.size(),
                group.devices_truncated ? " (truncated)" : "");
    std::printf("%-16s %-20s %-14s %-14s %-14s %s\n", "device", "app", "staged", "effective",
                "running", "");
  }
  for (const auto& device : group.devices) {
    std::map<std::string, api::GroupDeviceApp> apps;
    for (const auto& app : device.apps) apps[app.app] = app;
    for (const auto& [app, version] : effective) {
      if (!apps.contains(app)) apps[app] = {.app = app, .installed_version = "", .active_version = ""};
    }
    for (const auto& [name, app] : apps) {
      auto found = effective.find(name);
      std::string wanted = found == effective.end() ? "" : found->second;
      bool ok = wanted.empty() || app.active_version == wanted;
      consistent = consistent && ok;
      std::string key = ToHex(device.device_key).substr(0, 16);
      if (options.json) {
        devices.push_back({{"device", ToHex(device.device_key)},
                           {"app", name},
                           {"staged", app.installed_version},
                           {"effective", wanted},
                           {"running", app.active_version},
                           {"consistent", ok}});
      } else {
        auto show = [](const std::string& text) { return text.empty() ? std::string("-") : text; };
        std::printf("%-16s %-20s %-14s %-14s %-14s %s\n", key.c_str(), name.c_str(),
                    show(app.installed_version).c_str(), show(wanted).c_str(),
                    show(app.active_version).c_str(), ok ? "" : "BEHIND");
      }
    }
  }
  if (options.json) {
    PrintJson({{"group", options.group},
               {"height", group.height},
               {"devices", devices},
               {"consistent", consistent}});
  } else {
    std::printf("%s\n", consistent ? "consistent: every device runs the effective version"
                                   : "NOT consistent: some devices do not run the effective "
                                     "version");
  }
  return Ok();
}

}  // namespace

void RegisterStatusCommand(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* command = app.add_subcommand(
      "status",
      "A device group as the ledger has it: per device and app the staged, effective and "
      "running version, and whether the group is consistent");
  command->add_option("--group", options->group, "Device group")->required();
  AddPeerTargetOptions(*command, options->target);
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunStatus(*options); !status) {
      ReportError(context, "status", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderStatus, RegisterStatusCommand);

}  // namespace vigil::cli
