// Runs the simulator over one seed or a range of seeds, on several threads, and sums the
// results: the loop behind both `consensus_sim` (tests/sim/sim_main.cc) and `vigil sim`.
//
//   RunnerOptions options{.first_seed = 1, .seeds = 2000, .jobs = 2};
//   options.base.faults = Faults::Parse("mixed").value();
//   RunnerTotals totals = RunSeeds(options, {.on_result = [](const SimConfig& config,
//                                                           const SimResult& result) { ... }});
//   // totals.failed == 0: every run passed every checker
//
// Each seed is one independent Simulation (single-threaded, deterministic); the runner is the
// thin shell that spreads seeds over `jobs` threads and reads the wall clock for rates. The
// callbacks are called under the runner's lock, one at a time, in completion order (which
// varies between runs when jobs > 1; each seed's own result never does).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "sim/simulator.h"

namespace vigil::sim {

// Limits of a simulator run. They belong in common/limits.h; they live here until that file
// gets a simulator section.
inline constexpr uint32_t kSimNodesMax = 64;  // one thread simulates them all
inline constexpr uint32_t kSimJobsMax = 64;   // threads running seeds side by side

struct RunnerOptions {
  SimConfig base;  // every field but `seed`
  uint64_t first_seed = 1;
  uint64_t seeds = 1;  // runs first_seed .. first_seed + seeds - 1
  uint32_t jobs = 1;
  // Call on_progress after every this many finished seeds (0: never).
  uint64_t progress_every = 0;
};

// Refuses 0 seeds, a seed range that overflows, nodes outside 1..kSimNodesMax, jobs outside
// 1..kSimJobsMax, a negative fault phase, a negative count or more Byzantine validators
// than f = (nodes - 1) / 3 (-1 means "drawn from the seed"; with a rules-halting node, which
// counts against f, at most f - 1), and a rules-halting node or late-activation sabotage
// without rules activations. Messages name the flag.
Status ValidateRunnerOptions(const RunnerOptions& options);

struct RunnerTotals {
  uint64_t seeds = 0;  // finished so far
  uint64_t failed = 0;
  uint64_t events = 0;
  uint64_t heights = 0;  // decided by the slowest honest node, summed over seeds
  uint64_t crashes = 0;
  uint64_t evidence = 0;
  uint64_t guard_refusals = 0;
  uint64_t rules_activations = 0;  // rules versions that took effect, summed over seeds
  uint64_t rules_halts = 0;
  int64_t simulated_ms = 0;
  double seconds = 0;  // wall time so far
};

struct RunnerCallbacks {
  std::function<void(const SimConfig& config, const SimResult& result)> on_result;
  std::function<void(const RunnerTotals& totals)> on_progress;
};

// Runs every seed of `options` (which must pass ValidateRunnerOptions) and returns the totals.
RunnerTotals RunSeeds(const RunnerOptions& options, const RunnerCallbacks& callbacks = {});

// The text both runners print (docs/testing.md shows them).
// "<program>: seeds 1..2000, 4 nodes, faults mixed, 2 job(s)" (and ", rules activations" or
// ", rules activations with a halting node").
std::string FormatRunHeader(std::string_view program, const RunnerOptions& options);
// "ok   seed=42 events=... simulated_ms=..." and, for a failure, the checker's message and
// "     replay: <the one command that replays it> --trace".
std::string FormatResult(std::string_view program, const SimConfig& config,
                         const SimResult& result);
// "progress: 5000 of 100000 seeds done, 0 failed, 40 s"
std::string FormatProgress(const RunnerTotals& totals, uint64_t seeds);
// "<program>: 2000 seeds, 0 failed, 15.2 s, 131.6 seeds/s, ... simulated s"
std::string FormatTotals(std::string_view program, const RunnerTotals& totals);

}  // namespace vigil::sim
