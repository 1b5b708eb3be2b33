// `vigil activate` and `vigil activate-rules`: coordinated activation (seed 002, docs/cli.md).
// Both build a governance body, sign and submit it as `vigil tx submit` does (cli/tx_submit.h),
// wait for the commit and print what the ledger recorded; a refusal is one sentence (the
// ledger's reason, with its counts) and exit status 1.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/tx_submit.h"
#include "ledger/genesis.h"
#include "ledger/transaction.h"

namespace vigil::cli {
namespace {

struct ActivateOptions {
  SubmitFlags submit;
  std::string group;
  std::string app;
  std::string version;
  std::optional<uint64_t> at_height;
  std::string at_time;
  bool next = false;
  std::string min_installed = "100%";
  std::string on_missing = "halt";
};

struct ActivateRulesOptions {
  SubmitFlags submit;
  uint32_t version = 0;
  uint64_t at_height = 0;
};

Expected<ledger::ActivateRelease> BuildActivation(const ActivateOptions& options) {
  ledger::ActivateRelease body{.group = options.group,
                               .app = options.app,
                               .version = options.version,
                               .timing = ledger::ActivationTiming::kNext,
                               .at_height = 0,
                               .at_time_ms = 0,
                               .threshold_kind = ledger::InstalledThresholdKind::kPercent,
                               .installed_threshold = 100,
                               .on_missing = ledger::MissingVersionPolicy::kHalt};
  int chosen = (options.at_height ? 1 : 0) + (options.at_time.empty() ? 0 : 1) +
               (options.next ? 1 : 0);
  if (chosen != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "say when: exactly one of --at-height N, --at-time T or --next");
  }
  if (options.at_height) {
    body.timing = ledger::ActivationTiming::kAtHeight;
    body.at_height = *options.at_height;
  } else if (!options.at_time.empty()) {
    body.timing = ledger::ActivationTiming::kAtTime;
    auto time = ledger::ParseUtcTimeMs(options.at_time);
    if (!time) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--at-time '" + options.at_time + "': " + time.error().message());
    }
    body.at_time_ms = *time;
  }
  std::string_view threshold = options.min_installed;
  if (!threshold.empty() && threshold.back() == '%') {
    body.threshold_kind = ledger::InstalledThresholdKind::kPercent;
    threshold.remove_suffix(1);
  } else {
    body.threshold_kind = ledger::InstalledThresholdKind::kDevices;
  }
  auto [end, error] = std::from_chars(threshold.data(), threshold.data() + threshold.size(),
                                      body.installed_threshold);
  if (threshold.empty() || error != std::errc() || end != threshold.data() + threshold.size()) {
    return Fail(ErrorCode::kInvalidArgument, "--min-installed '" + options.min_installed +
                                                 "': a device count K or a percentage P%");
  }
  if (options.on_missing == "halt") {
    body.on_missing = ledger::MissingVersionPolicy::kHalt;
  } else if (options.on_missing == "keep") {
    body.on_missing = ledger::MissingVersionPolicy::kKeep;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                "--on-missing '" + options.on_missing + "': halt or keep");
  }
  return body;
}

// The committed answer, or the refusal as one sentence.
Status CheckCommitted(const Submitted& submitted) {
  const api::SubmitResponse& response = submitted.response;
  if (response.outcome == api::SubmitOutcome::kCommitted && response.result.ok()) return Ok();
  if (response.outcome == api::SubmitOutcome::kPending) {
    return Fail(ErrorCode::kUnavailable, "admitted but not committed yet: `vigil tx show " +
                                             ToHex(response.transaction_id) + "`");
  }
  std::string where = response.outcome == api::SubmitOutcome::kCommitted
                          ? " (committed at height " + std::to_string(response.height) +
                                ", it changed nothing)"
                          : " (not admitted, it is in no block)";
  return Fail(ErrorCode::kRefused, response.result.reason + where);
}

}  // namespace

Expected<api::SubmitResponse> ActivateInCluster(const std::string& cluster_directory,
                                                const std::string& group, const std::string& app,
                                                const std::string& version,
                                                std::optional<uint64_t> at_height) {
  ledger::ActivateRelease body{
      .group = group,
      .app = app,
      .version = version,
      .timing = at_height ? ledger::ActivationTiming::kAtHeight : ledger::ActivationTiming::kNext,
      .at_height = at_height.value_or(0),
      .at_time_ms = 0,
      .threshold_kind = ledger::InstalledThresholdKind::kPercent,
      .installed_threshold = 100,
      .on_missing = ledger::MissingVersionPolicy::kHalt};
  SubmitFlags flags;
  flags.target.cluster = cluster_directory;
  VIGIL_ASSIGN_OR_RETURN(Submitted submitted, SubmitBody(body, flags));
  VIGIL_RETURN_IF_ERROR(CheckCommitted(submitted));
  return submitted.response;
}

namespace {

Status RunActivate(const ActivateOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(ledger::ActivateRelease body, BuildActivation(options));
  VIGIL_ASSIGN_OR_RETURN(Submitted submitted, SubmitBody(body, options.submit));
  VIGIL_RETURN_IF_ERROR(CheckCommitted(submitted));
  // What the ledger recorded: the activation record after the commit.
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.submit.target));
  VIGIL_ASSIGN_OR_RETURN(api::GroupResponse group, client->GetGroup(options.group));
  const api::GroupActivation* recorded = nullptr;
  for (const auto& activation : group.activations) {
    if (activation.app == options.app) recorded = &activation;
  }
  if (recorded == nullptr) {
    return Fail(ErrorCode::kInternal, "committed, but the peer shows no activation of " +
                                          options.app + " for group '" + options.group + "'");
  }
  const ledger::ActivationRecord& record = recorded->record;
  std::string from = record.effective_time_ms != 0
                         ? "the first block at or after " +
                               ledger::FormatUtcTimeMs(record.effective_time_ms)
                         : "height " + std::to_string(record.effective_height);
  if (options.submit.json) {
    nlohmann::json json = ActivateReleaseJson(body);
    json["transaction_id"] = ToHex(submitted.response.transaction_id);
    json["recorded_height"] = record.recorded_height;
    json["effective_height"] = record.effective_height;
    json["effective_time_ms"] = record.effective_time_ms;
    json["installed_threshold"] = record.installed_threshold;
    json["previous_version"] = record.previous_version;
    PrintJson(json);
    return Ok();
  }
  std::printf(
      "activation recorded at height %llu: %s %s for group '%s' from %s (previously %s); "
      "installed threshold %u devices, devices missing it: %s\ntransaction %s\n",
      static_cast<unsigned long long>(record.recorded_height), options.app.c_str(),
      record.version.c_str(), options.group.c_str(), from.c_str(),
      record.previous_version.empty() ? "none" : record.previous_version.c_str(),
      record.installed_threshold,
      std::string(ledger::MissingVersionPolicyName(record.on_missing)).c_str(),
      ToHex(submitted.response.transaction_id).c_str());
  return Ok();
}

Status RunActivateRules(const ActivateRulesOptions& options) {
  ledger::ActivateRules body{.version = options.version, .at_height = options.at_height};
  VIGIL_ASSIGN_OR_RETURN(Submitted submitted, SubmitBody(body, options.submit));
  VIGIL_RETURN_IF_ERROR(CheckCommitted(submitted));
  if (options.submit.json) {
    PrintJson({{"transaction_id", ToHex(submitted.response.transaction_id)},
               {"recorded_height", submitted.response.height},
               {"rules_version", options.version},
               {"at_height", options.at_height}});
    return Ok();
  }
  std::printf("rules switch recorded at height %llu: every peer executes block %llu and later "
              "under rules version %u\ntransaction %s\n",
              static_cast<unsigned long long>(submitted.response.height),
              static_cast<unsigned long long>(options.at_height), options.version,
              ToHex(submitted.response.transaction_id).c_str());
  return Ok();
}

}  // namespace

void RegisterActivateCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<ActivateOptions>();
  CLI::App* activate = app.add_subcommand(
      "activate",
      "Activate a published release for a device group at a ledger block (admins, k of n): "
      "every device switches when the ledger reaches it. Refused below the installed threshold");
  activate->add_option("--group", options->group, "Device group")->required();
  activate->add_option("--app", options->app, "App name")->required();
  activate->add_option("--version", options->version, "A published version (older: downgrade)")
      ->required();
  activate->add_option("--at-height", options->at_height, "Effective from this block height");
  activate->add_option("--at-time", options->at_time,
                       "Effective from the first block at or after this UTC time (RFC 3339, Z)");
  activate->add_flag("--next", options->next, "Effective from the block after the one recording it");
  activate->add_option("--min-installed", options->min_installed,
                       "Devices of the group that must have reported `installed`: K or P% "
                       "(default 100%)");
  activate->add_option("--on-missing", options->on_missing,
                       "A device without the version staged: halt (stop the app) or keep "
                       "(keep the previous one running); default halt");
  AddGovernanceSubmitFlags(*activate, options->submit);
  activate->callback([options, &context] {
    if (Status status = RunActivate(*options); !status) {
      ReportError(context, "activate", status.error());
    }
  });

  auto rules = std::make_shared<ActivateRulesOptions>();
  CLI::App* activate_rules = app.add_subcommand(
      "activate-rules",
      "Switch every peer to another contract-rules version at a block height (admins, k of "
      "n). Refused unless validators with more than 2/3 of the voting power recorded support");
  activate_rules->add_option("--version", rules->version, "Rules version")->required();
  activate_rules->add_option("--at-height", rules->at_height, "First block under it")
      ->required();
  AddGovernanceSubmitFlags(*activate_rules, rules->submit);
  activate_rules->callback([rules, &context] {
    if (Status status = RunActivateRules(*rules); !status) {
      ReportError(context, "activate-rules", status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderActivate, RegisterActivateCommands);

}  // namespace vigil::cli
