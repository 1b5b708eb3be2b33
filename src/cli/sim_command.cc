// `vigil sim`: the deterministic consensus simulator (src/sim, docs/testing.md) over one seed or
// many, the same runs as `consensus_sim` (both use sim/runner.h). Every failing seed is printed
// with the one command that replays it.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "sim/runner.h"
#include "sim/simulator.h"

namespace vigil::cli {
namespace {

constexpr std::string_view kCommandName = "sim";
constexpr std::string_view kProgram = "vigil sim";

struct SimCommandOptions {
  sim::RunnerOptions runner;
  std::optional<uint64_t> seed;
  std::string faults = "mixed";
  std::optional<uint32_t> byzantine;  // absent: 0 to f, drawn from each seed
  bool verbose = false;
  bool json = false;
};

nlohmann::json ResultJson(const sim::SimConfig& config, const sim::SimResult& result) {
  nlohmann::json object = {{"seed", result.seed},
                           {"ok", result.ok},
                           {"events", result.events},
                           {"heights", result.min_honest_height},
                           {"max_round", result.max_round},
                           {"crashes", result.crashes},
                           {"evidence", result.evidence_found},
                           {"byzantine", result.byzantine},
                           {"simulated_ms", result.simulated_ms}};
  if (!result.ok) {
    object["failure"] = result.failure;
    object["replay"] = sim::ReplayCommand(config, kProgram) + " --trace";
  }
  return object;
}

nlohmann::json TotalsJson(const sim::RunnerOptions& options, const sim::RunnerTotals& totals) {
  return {{"ok", totals.failed == 0},
          {"first_seed", options.first_seed},
          {"seeds", totals.seeds},
          {"nodes", options.base.nodes},
          {"faults", options.base.faults.ToString()},
          {"jobs", options.jobs},
          {"failed", totals.failed},
          {"seconds", totals.seconds},
          {"events", totals.events},
          {"heights", totals.heights},
          {"crashes", totals.crashes},
          {"evidence", totals.evidence},
          {"guard_refusals", totals.guard_refusals},
          {"rules_activations", totals.rules_activations},
          {"rules_halts", totals.rules_halts},
          {"simulated_ms", totals.simulated_ms}};
}

void Print(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Status RunSim(SimCommandOptions& options) {
  sim::RunnerOptions& runner = options.runner;
  auto faults = sim::Faults::Parse(options.faults);
  if (!faults) return std::unexpected(faults.error().WithContext("--faults"));
  runner.base.faults = *faults;
  if (options.byzantine.has_value()) {
    if (*options.byzantine > sim::kSimNodesMax) {
      return Fail(ErrorCode::kInvalidArgument, "--byzantine may be at most f = (nodes - 1) / 3");
    }
    runner.base.byzantine_nodes = static_cast<int>(*options.byzantine);
  }
  if (options.seed.has_value()) {
    runner.first_seed = *options.seed;
    runner.seeds = 1;
  }
  VIGIL_RETURN_IF_ERROR(sim::ValidateRunnerOptions(runner));
  // One seed is always printed; many print only their failures unless --verbose.
  const bool every_run = options.verbose || options.seed.has_value();

  nlohmann::json results = nlohmann::json::array();
  sim::RunnerCallbacks callbacks;
  callbacks.on_result = [&](const sim::SimConfig& config, const sim::SimResult& result) {
    if (!every_run && result.ok) return;
    if (options.json) {
      results.push_back(ResultJson(config, result));
    } else {
      Print(sim::FormatResult(kProgram, config, result));
    }
  };
  callbacks.on_progress = [&](const sim::RunnerTotals& so_far) {
    // With --json, stdout holds only the JSON object.
    std::fprintf(options.json ? stderr : stdout, "%s\n",
                 sim::FormatProgress(so_far, runner.seeds).c_str());
  };
  if (!options.json) Print(sim::FormatRunHeader(kProgram, runner));
  const sim::RunnerTotals totals = sim::RunSeeds(runner, callbacks);
  if (options.json) {
    nlohmann::json summary = TotalsJson(runner, totals);
    summary["results"] = std::move(results);
    PrintJson(summary);
    std::fflush(stdout);  // before the error line on stderr, even when both go to one pipe
  } else {
    Print(sim::FormatTotals(kProgram, totals));
  }
  if (totals.failed == 0) return Ok();
  return Fail(ErrorCode::kInternal, std::to_string(totals.failed) + " of " +
                                        std::to_string(totals.seeds) +
                                        " seeds failed a checker; each is printed with the "
                                        "command that replays it");
}

}  // namespace

void RegisterSimCommand(CLI::App& app, CommandContext& context) {
  CLI::App* command = app.add_subcommand(
      std::string(kCommandName),
      "Run the deterministic consensus simulator: whole clusters over a simulated network, disk "
      "and clock, with faults and Byzantine validators, checked for agreement, double signing, "
      "state, certificates and liveness. The same seed replays the same run exactly; every "
      "failing seed is printed with the one command that replays it.");
  auto options = std::make_shared<SimCommandOptions>();
  sim::RunnerOptions& runner = options->runner;
  CLI::Option* seed = command->add_option("--seed", options->seed, "Run this one seed, verbosely");
  command->add_option("--seeds", runner.seeds, "Run this many seeds (default 1)")->excludes(seed);
  command->add_option("--first-seed", runner.first_seed, "The first of --seeds (default 1)")
      ->excludes(seed);
  command->add_option("--nodes", runner.base.nodes,
                      "Validators, 1 to " + std::to_string(sim::kSimNodesMax) + " (default 4)");
  command->add_option("--faults", options->faults,
                      "none, mixed (default) or a comma list of drop, delay, duplicate, "
                      "partition, clog, crash, skew, byzantine");
  command->add_option("--byzantine", options->byzantine,
                      "Byzantine validators, at most (nodes - 1) / 3 (default: 0 to f, drawn "
                      "from the seed)");
  command->add_option("--fault-ms", runner.base.fault_phase_ms,
                      "Simulated milliseconds of faults before the network heals (default 4000)");
  command->add_option("--jobs", runner.jobs,
                      "Threads running seeds side by side, 1 to " +
                          std::to_string(sim::kSimJobsMax) + " (default 1)");
  command->add_option("--progress", runner.progress_every, "Print a progress line every N seeds");
  command->add_flag("--weighted", runner.base.weighted,
                    "Voting powers 1-10 from the seed (Byzantine power stays below 1/3)");
  command->add_flag("--verbose", options->verbose, "Print every run, not only failures");
  command->add_flag("--trace", runner.base.trace,
                    "Print every message and timer of the run to stderr (use with --seed)");
  command->add_flag("--rules-activations", runner.base.rules_activations,
                    "Activate contract-rules versions 2, 3, 4 at heights drawn from the seed "
                    "(docs/testing.md#rules-activations)");
  command->add_flag("--rules-halting-node", runner.base.rules_halting_node,
                    "With --rules-activations: one honest node lacks version 4, halts before it "
                    "and is upgraded later");
  command->add_flag("--json", options->json, "Print one JSON object instead of text");
  // The checkers' self-test (docs/testing.md): honest nodes forget what they signed, which the
  // double-signing checker must catch. Hidden: it exists to make runs fail.
  command->add_flag("--sabotage-forget-state", runner.base.sabotage_forget_state)->group("");
  // ... and one node switches rules one block late, which the rules checker must catch.
  command->add_flag("--sabotage-late-activation", runner.base.sabotage_late_activation)
      ->group("");
  command->callback([options, &context] {
    // Both need activations to act on (as consensus_sim's flags imply).
    sim::SimConfig& base = options->runner.base;
    if (base.rules_halting_node || base.sabotage_late_activation) base.rules_activations = true;
    if (Status status = RunSim(*options); !status) {
      ReportError(context, kCommandName, status.error());
    }
  });
}
VIGIL_REGISTER_COMMAND(kOrderSim, RegisterSimCommand);

}  // namespace vigil::cli
