// `vigil audit --data DIR`: re-verify a peer's whole chain offline from its genesis, trusting
// nothing its store says (src/audit/audit.h, docs/audit.md). Read-only: safe while the peer runs.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "audit/audit.h"
#include "cli/commands.h"
#include "ledger/genesis.h"
#include "store/block_store.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "audit";
// How often the progress line on a terminal is redrawn.
constexpr std::chrono::milliseconds kProgressInterval{500};

struct AuditCommandOptions {
  std::string data;
  std::string genesis;
  bool json = false;
};

// "1,234,567": counts an operator reads at a glance.
std::string Grouped(uint64_t value) {
  std::string digits = std::to_string(value);
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

double PerSecond(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

std::string Rate(uint64_t count, double seconds) {
  return Grouped(static_cast<uint64_t>(std::llround(PerSecond(count, seconds))));
}

void PrintJsonReport(const audit::AuditReport& report, const std::filesystem::path& file,
                     double seconds) {
  nlohmann::json findings = nlohmann::json::array();
  for (const audit::Finding& finding : report.findings) {
    findings.push_back({{"height", finding.height},
                        {"subject", finding.subject},
                        {"message", finding.message},
                        {"fatal", finding.fatal}});
  }
  PrintJson({{"ok", report.ok()},
             {"store", file.string()},
             {"chain_id", report.chain_id},
             {"genesis_hash", ToHex(report.genesis_hash)},
             {"last_height", report.last_height},
             {"verified_height", report.verified_height},
             {"transactions", report.transactions},
             {"certificates_verified", report.certificates_verified},
             {"validators", report.validators},
             {"total_voting_power", report.total_voting_power},
             {"state_entries", report.state_entries},
             {"state_table_compared", report.state_table_compared},
             {"integrity_check_passed", report.integrity_check_passed},
             {"block_hash", ToHex(report.tip.block_hash)},
             {"state_hash", ToHex(report.tip.state_hash)},
             {"block_time", ledger::FormatUtcTimeMs(report.tip.time_ms)},
             {"seconds", seconds},
             {"blocks_per_second", PerSecond(report.verified_height, seconds)},
             {"transactions_per_second", PerSecond(report.transactions, seconds)},
             {"findings", findings},
             {"findings_omitted", report.findings_omitted}});
}

void PrintTextReport(const audit::AuditReport& report, const std::filesystem::path& file,
                     double seconds) {
  std::printf("store         %s\n", file.c_str());
  std::printf("chain         %s, genesis %s\n", report.chain_id.c_str(),
              ToHex(report.genesis_hash).c_str());
  std::printf("blocks        %s of %s verified (hash, linkage, execution, results, certificates)\n",
              Grouped(report.verified_height).c_str(), Grouped(report.last_height).c_str());
  std::printf("transactions  %s (every signature checked, every result re-executed)\n",
              Grouped(report.transactions).c_str());
  std::printf("validators    %s (total voting power %s)\n", Grouped(report.validators).c_str(),
              Grouped(report.total_voting_power).c_str());
  std::printf("final block   %s at %s, hash %s\n", Grouped(report.tip.height).c_str(),
              ledger::FormatUtcTimeMs(report.tip.time_ms).c_str(),
              ToHex(report.tip.block_hash).c_str());
  std::printf("state         %s entries, hash %s%s\n", Grouped(report.state_entries).c_str(),
              ToHex(report.tip.state_hash).c_str(),
              report.state_table_compared ? "" : " (the store's table was not compared)");
  std::printf("store file    integrity check %s\n",
              report.integrity_check_passed ? "passed" : "FAILED");
  std::printf("time          %.2f s (%s blocks/s, %s transactions/s)\n", seconds,
              Rate(report.verified_height, seconds).c_str(),
              Rate(report.transactions, seconds).c_str());
  if (report.ok()) {
    std::printf("result        OK: every block, result, certificate and state entry verified\n");
    return;
  }
  std::printf("findings      %s\n",
              Grouped(report.findings.size() + report.findings_omitted).c_str());
  for (const audit::Finding& finding : report.findings) {
    std::string where = finding.height == 0 ? "store" : "height " + std::to_string(finding.height);
    std::printf("  %-12s %s: %s%s\n", where.c_str(), finding.subject.c_str(),
                finding.message.c_str(), finding.fatal ? " [the audit stopped here]" : "");
  }
  if (report.findings_omitted > 0) {
    std::printf("  ... and %s more\n", Grouped(report.findings_omitted).c_str());
  }
  std::printf("result        FAILED: this store does not verify\n");
}

// Redraws "audit: block 1,200 of 5,000" on a terminal, at most every kProgressInterval.
std::function<void(uint64_t, uint64_t)> TerminalProgress() {
  if (::isatty(STDERR_FILENO) == 0) return nullptr;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](uint64_t height, uint64_t last_height) {
    const auto now = std::chrono::steady_clock::now();
    if (now - *last < kProgressInterval && height != last_height) return;
    *last = now;
    std::fprintf(stderr, "\raudit: block %s of %s%s", Grouped(height).c_str(),
                 Grouped(last_height).c_str(), height == last_height ? "\n" : "");
  };
}

Status RunAudit(const AuditCommandOptions& options) {
  const std::filesystem::path file =
      std::filesystem::path(options.data) / std::string(store::kStoreFileName);
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored)) {
    return Fail(ErrorCode::kNotFound, "--data " + options.data + " holds no " +
                                          std::string(store::kStoreFileName) +
                                          ": give a peer's data directory (vigil peer --data DIR)");
  }
  store::StoreOptions store_options;
  store_options.read_only = true;  // never migrates or writes; takes no writer lock
  VIGIL_ASSIGN_OR_RETURN(auto store, store::BlockStore::Open(file, store_options));
  std::optional<ledger::Genesis> given;
  if (!options.genesis.empty()) {
    auto read = ledger::ReadGenesisFile(options.genesis);
    if (!read) return std::unexpected(read.error().WithContext("--genesis"));
    given = std::move(*read);
  }
  auto genesis = audit::ChooseGenesis(*store, given);
  if (!genesis) {
    return std::unexpected(given ? genesis.error().WithContext("--genesis " + options.genesis)
                                 : genesis.error());
  }

  const auto started = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(
      audit::AuditReport report,
      audit::AuditChain(*store, *genesis,
                        {.progress = options.json ? nullptr : TerminalProgress(), .execute = {}}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.json) {
    PrintJsonReport(report, file, seconds);
  } else {
    PrintTextReport(report, file, seconds);
  }
  // The report first, then the error line on stderr, even when both go to one pipe.
  std::fflush(stdout);
  if (report.ok()) return Ok();
  const audit::Finding& first = report.findings.front();
  return Fail(
      ErrorCode::kCorruption,
      "the store in " + options.data +
          " does not verify: " + std::to_string(report.findings.size() + report.findings_omitted) +
          " finding(s), the first " +
          (first.height == 0 ? "about the store" : "at height " + std::to_string(first.height)) +
          " (" + first.subject + ")");
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Verify a peer's whole chain offline: re-execute every block from the genesis, check "
      "every hash, signature, result, commit certificate and the final state table. Trusts "
      "nothing the store says; opens it read-only (safe while the peer runs). Exit status 0 "
      "only when everything verified.");
  auto options = std::make_shared<AuditCommandOptions>();
  command->add_option("--data", options->data, "The peer's data directory (holds ledger.sqlite3)")
      ->required();
  command->add_option("--genesis", options->genesis,
                      "Genesis file to audit against (default: the one the store holds; refused "
                      "when the two differ)");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    if (Status status = RunAudit(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderAudit, RegisterAuditCommand);

}  // namespace vigil::cli
