// `vigil compliance [--group G] [--json]`: which devices run exactly the activated, untampered
// release, and which do not and why (tampered since H with what changed, behind, unknown,
// repaired at H), with a summary line. Exit status 0 when every device is compliant, 1 when
// one is not, the answer is incomplete, or the peer cannot be asked (docs/cli.md#vigil-compliance).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "api/client.h"
#include "cli/commands.h"
#include "cli/compliance_fetch.h"
#include "cli/peer_target.h"
#include "common/limits.h"
#include "compliance/report.h"

namespace vigil::cli {

Expected<compliance::ComplianceReport> FetchComplianceReport(api::ApiClient& client,
                                                             const std::string& group) {
  std::vector<api::ComplianceResponse> pages;
  std::optional<crypto::PublicKey> start_after;
  while (pages.size() < limits::kCliCompliancePagesMax) {
    VIGIL_ASSIGN_OR_RETURN(api::ComplianceResponse page, client.GetCompliance(group, start_after));
    bool more = page.devices_truncated && !page.devices.empty();
    if (!page.devices.empty()) start_after = page.devices.back().device_key;
    pages.push_back(std::move(page));
    if (!more) break;
  }
  return compliance::BuildReport(group, pages);
}

namespace {

struct ComplianceOptions {
  PeerTarget target;
  std::string group;
  bool json = false;
};

Expected<int> RunCompliance(const ComplianceOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(compliance::ComplianceReport report,
                         FetchComplianceReport(*client, options.group));
  if (options.json) {
    PrintJson(compliance::ToJson(report));
  } else {
    std::fputs(compliance::FormatText(report).c_str(), stdout);
  }
  return compliance::ExitCode(report);
}

}  // namespace

void RegisterComplianceCommand(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<ComplianceOptions>();
  CLI::App* command = app.add_subcommand(
      "compliance",
      "Which devices run exactly the activated, untampered release, and which do not and why "
      "(exit status 0 only when all do)");
  command->add_option("--group", options->group, "Device group (default: every group)");
  AddPeerTargetOptions(*command, options->target);
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    auto exit_code = RunCompliance(*options);
    if (!exit_code) {
      ReportError(context, "compliance", exit_code.error());
      return;
    }
    context.exit_code = *exit_code;
  });
}
VIGIL_REGISTER_COMMAND(kOrderCompliance, RegisterComplianceCommand);

}  // namespace vigil::cli
