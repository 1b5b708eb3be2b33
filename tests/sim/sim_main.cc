// consensus_sim: runs the deterministic consensus simulator over one seed or many.
//
//   consensus_sim --seed 42                      one run, verbose summary
//   consensus_sim --seeds 2000 --first-seed 1    many runs; prints every failing seed with the
//                                                one command that replays it
//   consensus_sim --seed 42 --trace              every event of one run, to stderr
//   consensus_sim --seeds 100000 --jobs 2 --progress 10000   a long run with progress lines
//   consensus_sim --seeds 200 --rules-activations             rules versions 2, 3, 4 activated
//                                                at heights from the seed, under the faults
//   consensus_sim --seeds 200 --rules-halting-node            ... and one honest node lacks the
//                                                newest: it halts, is upgraded, catches up
//
// The loop over seeds and the lines it prints are sim/runner.h, shared with `vigil sim`.
// Exit status: 0 when every run passed every checker, 1 otherwise, 2 on bad arguments.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/runner.h"
#include "sim/simulator.h"

namespace {

constexpr std::string_view kProgram = "consensus_sim";

int Usage(const std::string& problem) {
  std::fprintf(stderr,
               "consensus_sim: %s\n"
               "usage: consensus_sim [--seed S | --seeds N [--first-seed S]] [--nodes N]\n"
               "                     [--faults none|mixed|drop,delay,duplicate,partition,clog,"
               "crash,skew,byzantine]\n"
               "                     [--byzantine K] [--fault-ms MS] [--jobs J] [--verbose] "
               "[--trace] [--progress N] [--weighted]\n"
               "                     [--rules-activations] [--rules-halting-node]\n",
               problem.c_str());
  return 2;
}

bool ParseNumber(const char* text, uint64_t& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtoull(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

void Print(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  vigil::sim::RunnerOptions options;
  options.base.faults = vigil::sim::Faults::Parse("mixed").value();
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto number = [&](uint64_t& value) { return i + 1 < argc && ParseNumber(argv[++i], value); };
    uint64_t value = 0;
    if (flag == "--seed" && number(value)) {
      options.first_seed = value;
      options.seeds = 1;
      verbose = true;  // one run: always print it
    } else if (flag == "--seeds" && number(value)) {
      options.seeds = value;
    } else if (flag == "--first-seed" && number(value)) {
      options.first_seed = value;
    } else if (flag == "--nodes" && number(value) && value <= vigil::sim::kSimNodesMax) {
      options.base.nodes = static_cast<uint32_t>(value);
    } else if (flag == "--byzantine" && number(value) && value <= vigil::sim::kSimNodesMax) {
      options.base.byzantine_nodes = static_cast<int>(value);
    } else if (flag == "--fault-ms" && number(value) && value <= INT32_MAX) {
      options.base.fault_phase_ms = static_cast<int64_t>(value);
    } else if (flag == "--jobs" && number(value) && value <= vigil::sim::kSimJobsMax) {
      options.jobs = static_cast<uint32_t>(value);
    } else if (flag == "--faults" && i + 1 < argc) {
      auto faults = vigil::sim::Faults::Parse(argv[++i]);
      if (!faults) return Usage(faults.error().message());
      options.base.faults = *faults;
    } else if (flag == "--progress" && number(value)) {
      options.progress_every = value;
    } else if (flag == "--weighted") {
      options.base.weighted = true;
    } else if (flag == "--verbose") {
      verbose = true;
    } else if (flag == "--trace") {
      options.base.trace = true;
    } else if (flag == "--rules-activations") {
      options.base.rules_activations = true;
    } else if (flag == "--rules-halting-node") {
      options.base.rules_activations = true;
      options.base.rules_halting_node = true;
    } else if (flag == "--sabotage-forget-state") {
      options.base.sabotage_forget_state = true;
    } else if (flag == "--sabotage-late-activation") {
      options.base.rules_activations = true;
      options.base.sabotage_late_activation = true;
    } else {
      return Usage("bad or incomplete argument '" + flag + "'");
    }
  }
  if (auto valid = vigil::sim::ValidateRunnerOptions(options); !valid) {
    return Usage(valid.error().message());
  }

  Print(vigil::sim::FormatRunHeader(kProgram, options));
  vigil::sim::RunnerTotals totals = vigil::sim::RunSeeds(
      options, {.on_result =
                    [&](const vigil::sim::SimConfig& config, const vigil::sim::SimResult& result) {
                      if (verbose || !result.ok)
                        Print(vigil::sim::FormatResult(kProgram, config, result));
                    },
                .on_progress =
                    [&](const vigil::sim::RunnerTotals& so_far) {
                      Print(vigil::sim::FormatProgress(so_far, options.seeds));
                    }});
  Print(vigil::sim::FormatTotals(kProgram, totals));
  return totals.failed == 0 ? 0 : 1;
}
