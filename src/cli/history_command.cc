// `vigil history --device D | --app A`: seed 001's upload, download and install logs as
// queries over the ledger (docs/cli.md#vigil-history). Walks the chain from --since (or 1) to
// the tip through a peer's client API, verifies every block against the genesis validators
// exactly as `vigil ledger` does (cli/verified_blocks.h) and prints the rows the history core
// (src/history/history.h) selects.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "api/client.h"
#include "api/messages.h"
#include "cli/commands.h"
#include "cli/peer_target.h"
#include "cli/verified_blocks.h"
#include "common/bytes.h"
#include "common/limits.h"
#include "history/history.h"
#include "ledger/genesis.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "history";
// Hex characters of a key or digest in table columns.
constexpr size_t kShortHexCharacters = 16;

struct HistoryOptions {
  PeerTarget target;
  std::string device;
  std::string app;
  uint64_t since = 0;
  size_t limit = limits::kHistoryRowsDefault;
  std::string genesis;
  bool json = false;
};

std::string ShortHex(ByteSpan bytes) { return ToHex(bytes).substr(0, kShortHexCharacters); }

std::string ResultText(const ledger::TransactionResult& result) {
  if (result.ok()) return "accepted";
  return "refused (" + std::string(ledger::ResultCodeName(result.code)) + "): " + result.reason;
}

// The row's own numbers and words, for the table's last column.
std::string DetailsText(const history::Row& row) {
  std::string text;
  auto add = [&text](const std::string& part) {
    if (!part.empty()) text += (text.empty() ? "" : "; ") + part;
  };
  if (row.bundle_digest) {
    add("bundle " + ShortHex(*row.bundle_digest) + ", " + std::to_string(row.bundle_size_bytes) +
        " bytes");
  }
  switch (row.kind) {
    case history::RowKind::kTamperDetected:
      add((row.tamper_number > 0 ? "tamper #" + std::to_string(row.tamper_number) + " of " +
                                       row.app + " on this device: "
                                 : std::string()) +
          std::to_string(row.files_changed) + " file(s) changed");
      break;
    case history::RowKind::kRepaired:
      add("restored " + std::to_string(row.files_changed) + " file(s) in " +
          std::to_string(row.duration_ms) + " ms");
      break;
    default:
      if (row.duration_ms > 0) add("took " + std::to_string(row.duration_ms) + " ms");
      if (row.files_changed > 0) add(std::to_string(row.files_changed) + " files changed");
      break;
  }
  if (row.snapshot_root) {
    std::optional<bool> matches = row.MatchesManifest();
    add("snapshot " + ShortHex(*row.snapshot_root) +
        (!matches ? std::string()
         : *matches ? " = manifest of " + row.app + " " + row.version
                    : " != manifest " + ShortHex(*row.manifest_root) + " of " + row.app + " " +
                          row.version));
  }
  if (row.observed_time_ms != 0) {
    add("device clock " + ledger::FormatUtcTimeMs(row.observed_time_ms));
  }
  add(row.detail);
  return text;
}

nlohmann::json RowJson(const history::Row& row) {
  nlohmann::json json = {{"height", row.height},
                         {"block_time_ms", row.block_time_ms},
                         {"index", row.index},
                         {"transaction_id", ToHex(row.transaction_id)},
                         {"kind", history::RowKindName(row.kind)},
                         {"signer", ToHex(row.signer)},
                         {"device", row.device ? ToHex(*row.device) : ""},
                         {"app", row.app},
                         {"version", row.version},
                         {"result", ledger::ResultCodeName(row.result.code)},
                         {"reason", row.result.reason},
                         {"detail", row.detail}};
  if (row.bundle_digest) {
    json["bundle_digest"] = ToHex(*row.bundle_digest);
    json["bundle_size_bytes"] = row.bundle_size_bytes;
  }
  if (row.kind != history::RowKind::kPublish && row.kind != history::RowKind::kEnroll &&
      row.kind != history::RowKind::kRevoke) {
    json["observed_time_ms"] = row.observed_time_ms;
    json["duration_ms"] = row.duration_ms;
    json["files_changed"] = row.files_changed;
    json["snapshot_root"] = row.snapshot_root ? ToHex(*row.snapshot_root) : "";
    json["manifest_root"] = row.manifest_root ? ToHex(*row.manifest_root) : "";
    std::optional<bool> matches = row.MatchesManifest();
    json["matches_manifest"] = matches ? nlohmann::json(*matches) : nlohmann::json(nullptr);
    json["tamper_number"] = row.tamper_number;
  } else if (row.manifest_root) {
    json["manifest_root"] = ToHex(*row.manifest_root);
  }
  return json;
}

void PrintTable(const std::vector<history::Row>& rows) {
  std::printf("%7s  %-24s %-18s %-16s %-20s %-10s %-10s %s\n", "height", "block time", "kind",
              "device", "app", "version", "result", "details");
  for (const history::Row& row : rows) {
    std::string result = row.result.ok() ? "accepted" : "refused";
    std::printf("%7llu  %-24s %-18s %-16s %-20s %-10s %-10s %s\n",
                static_cast<unsigned long long>(row.height),
                ledger::FormatUtcTimeMs(row.block_time_ms).c_str(),
                std::string(history::RowKindName(row.kind)).c_str(),
                row.device ? ShortHex(*row.device).c_str() : "-",
                row.app.empty() ? "-" : row.app.c_str(),
                row.version.empty() ? "-" : row.version.c_str(), result.c_str(),
                DetailsText(row).c_str());
    if (!row.result.ok()) std::printf("%9s%s\n", "", ResultText(row.result).c_str());
  }
}

Status Run(const HistoryOptions& options) {
  if (options.device.empty() && options.app.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "whose history? pass --device KEY (its hex key or a prefix) or --app NAME");
  }
  if (options.limit == 0 || options.limit > limits::kHistoryRowsMax) {
    return Fail(ErrorCode::kInvalidArgument, "--limit must be between 1 and " +
                                                 std::to_string(limits::kHistoryRowsMax));
  }
  const history::Filter filter{.device = options.device, .app = options.app,
                               .since_height = options.since};
  VIGIL_RETURN_IF_ERROR(history::ValidateFilter(filter));
  VIGIL_ASSIGN_OR_RETURN(Trusted trusted, LoadTrusted(options.genesis, options.target));
  VIGIL_ASSIGN_OR_RETURN(auto client, ConnectToPeer(options.target));
  VIGIL_ASSIGN_OR_RETURN(api::StatusResponse status, client->Status());
  const uint64_t tip = status.height;
  const uint64_t from = std::max<uint64_t>(options.since, 1);

  history::HistoryBuilder builder(filter, options.limit);
  uint64_t expected = from;
  Status failure = Ok();
  if (from <= tip) {
    auto on_block = [&](const api::CommittedBlock& committed) {
      if (committed.height != expected) {
        failure = Fail(ErrorCode::kCorruption, "expected block " + std::to_string(expected) +
                                                   ", the peer sent block " +
                                                   std::to_string(committed.height));
        return false;
      }
      auto block = VerifyBlock(trusted, committed, status.genesis_hash);
      if (!block) {
        failure = std::unexpected(block.error());
        return false;
      }
      if (Status added = builder.AddBlock(*block, committed.results); !added) {
        failure = added;
        return false;
      }
      ++expected;
      return expected <= tip && !builder.full();
    };
    Status walked = client->Subscribe(
        from, on_block,
        std::chrono::duration_cast<std::chrono::milliseconds>(limits::kHistoryBlockWaitMax));
    if (!failure) return failure;
    if (!walked) return std::unexpected(walked.error().WithContext(
                            "reading block " + std::to_string(expected)));
  }
  VIGIL_RETURN_IF_ERROR(builder.Finish());

  const std::vector<history::Row>& rows = builder.rows();
  if (options.json) {
    for (const history::Row& row : rows) PrintJson(RowJson(row));
    return Ok();
  }
  PrintTable(rows);
  const uint64_t last = expected - 1;
  std::printf("%zu %s from blocks %llu to %llu; every block verified against the %zu "
              "validators of %s\n",
              rows.size(), rows.size() == 1 ? "row" : "rows", static_cast<unsigned long long>(from),
              static_cast<unsigned long long>(std::max(last, from - 1)),
              trusted.validators.size(), trusted.genesis_path.string().c_str());
  if (builder.full()) {
    std::printf("stopped at --limit %zu rows; `--since %llu` continues (its first rows may "
                "repeat)\n",
                options.limit, static_cast<unsigned long long>(rows.back().height));
  }
  return Ok();
}

void RegisterHistoryCommand(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<HistoryOptions>();
  CLI::App* command = app.add_subcommand(
      "history",
      "What the ledger recorded about a device or an app: publishes, enrolment, installs, "
      "activations, rollbacks, restarts, integrity and tamper reports, every block verified");
  command->add_option("--device", options->device,
                      "The device's key in hex, or a unique prefix of at least 8 characters");
  command->add_option("--app", options->app, "The app's name");
  command->add_option("--since", options->since, "First block height to read (default: 1)");
  command->add_option("--limit", options->limit, "Stop after this many rows")
      ->capture_default_str();
  AddPeerTargetOptions(*command, options->target);
  command->add_option("--genesis", options->genesis,
                      "The chain's genesis.json, whose validators are trusted (default: the "
                      "cluster's)");
  command->add_flag("--json", options->json, "One JSON object per row instead of a table");
  command->callback([options, &context] {
    if (Status status = Run(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}

}  // namespace

VIGIL_REGISTER_COMMAND(kOrderHistory, RegisterHistoryCommand);

}  // namespace vigil::cli
