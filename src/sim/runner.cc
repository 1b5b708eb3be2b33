#include "sim/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "common/assert.h"

namespace vigil::sim {
namespace {

__attribute__((format(printf, 1, 2))) std::string Format(const char* format, ...) {
  char buffer[1024];
  va_list arguments;
  va_start(arguments, format);
  const int length = std::vsnprintf(buffer, sizeof(buffer), format, arguments);
  va_end(arguments);
  VIGIL_ASSERT(length >= 0);
  return std::string(buffer, std::min(static_cast<size_t>(length), sizeof(buffer) - 1));
}

unsigned long long U(uint64_t value) { return static_cast<unsigned long long>(value); }

void Add(RunnerTotals& totals, const SimResult& result) {
  ++totals.seeds;
  if (!result.ok) ++totals.failed;
  totals.events += result.events;
  totals.heights += result.min_honest_height;
  totals.crashes += result.crashes;
  totals.evidence += result.evidence_found;
  totals.guard_refusals += result.guard_refusals;
  totals.rules_activations += result.rules_versions_activated;
  totals.rules_halts += result.rules_halts;
  totals.simulated_ms += result.simulated_ms;
}

}  // namespace

Status ValidateRunnerOptions(const RunnerOptions& options) {
  auto invalid = [](std::string message) { return Fail(ErrorCode::kInvalidArgument, message); };
  if (options.seeds == 0) return invalid("--seeds must be at least 1");
  if (options.first_seed > std::numeric_limits<uint64_t>::max() - (options.seeds - 1)) {
    return invalid("--first-seed plus --seeds passes the largest seed, 2^64 - 1");
  }
  if (options.base.nodes < 1 || options.base.nodes > kSimNodesMax) {
    return invalid("--nodes must be from 1 to " + std::to_string(kSimNodesMax));
  }
  if (options.jobs < 1 || options.jobs > kSimJobsMax) {
    return invalid("--jobs must be from 1 to " + std::to_string(kSimJobsMax));
  }
  if (options.base.fault_phase_ms < 0) return invalid("--fault-ms must not be negative");
  const int f = static_cast<int>((options.base.nodes - 1) / 3);
  if (options.base.byzantine_nodes < -1) return invalid("--byzantine must not be negative");
  if (options.base.byzantine_nodes > f) {
    return invalid("--byzantine may be at most f = (nodes - 1) / 3 = " + std::to_string(f) +
                   " with " + std::to_string(options.base.nodes) + " nodes");
  }
  if ((options.base.rules_halting_node || options.base.sabotage_late_activation) &&
      !options.base.rules_activations) {
    return invalid(std::string(options.base.rules_halting_node ? "--rules-halting-node"
                                                               : "--sabotage-late-activation") +
                   " needs --rules-activations");
  }
  if (options.base.rules_halting_node && options.base.byzantine_nodes > 0 &&
      options.base.byzantine_nodes > f - 1) {
    return invalid("--byzantine may be at most f - 1 = " + std::to_string(std::max(f - 1, 0)) +
                   " with --rules-halting-node and " + std::to_string(options.base.nodes) +
                   " nodes: the halted node counts against f");
  }
  return Ok();
}

RunnerTotals RunSeeds(const RunnerOptions& options, const RunnerCallbacks& callbacks) {
  VIGIL_ASSERT(ValidateRunnerOptions(options).has_value());
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  std::atomic<uint64_t> next{0};
  std::mutex mutex;
  RunnerTotals totals;
  auto worker = [&] {
    for (uint64_t offset = next++; offset < options.seeds; offset = next++) {
      SimConfig config = options.base;
      config.seed = options.first_seed + offset;
      const SimResult result = RunSimulation(config);
      std::lock_guard lock(mutex);
      Add(totals, result);
      totals.seconds = elapsed();
      if (callbacks.on_result) callbacks.on_result(config, result);
      if (callbacks.on_progress && options.progress_every > 0 &&
          totals.seeds % options.progress_every == 0) {
        callbacks.on_progress(totals);
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t job = 1; job < options.jobs; ++job) threads.emplace_back(worker);
  worker();
  for (std::thread& thread : threads) thread.join();
  totals.seconds = elapsed();
  return totals;
}

std::string FormatRunHeader(std::string_view program, const RunnerOptions& options) {
  const SimConfig& base = options.base;
  return Format("%.*s: seeds %llu..%llu, %u nodes, faults %s, %u job(s)%s",
                static_cast<int>(program.size()), program.data(), U(options.first_seed),
                U(options.first_seed + options.seeds - 1), base.nodes,
                base.faults.ToString().c_str(), options.jobs,
                base.rules_halting_node  ? ", rules activations with a halting node"
                : base.rules_activations ? ", rules activations"
                                         : "");
}

std::string FormatResult(std::string_view program, const SimConfig& config,
                         const SimResult& result) {
  std::string line = Format(
      "%s seed=%llu events=%llu heights=%llu max_round=%llu crashes=%llu evidence=%llu "
      "byzantine=%s simulated_ms=%lld",
      result.ok ? "ok  " : "FAIL", U(result.seed), U(result.events), U(result.min_honest_height),
      U(result.max_round), U(result.crashes), U(result.evidence_found),
      result.byzantine.empty() ? "-" : result.byzantine.c_str(),
      static_cast<long long>(result.simulated_ms));
  if (config.rules_activations) {
    line += Format(" rules_activations=%llu rules_halts=%llu", U(result.rules_versions_activated),
                   U(result.rules_halts));
  }
  if (!result.ok) {
    // The checker's message may span lines (one per node); it is not size-limited here.
    line += "\n     " + result.failure + "\n     replay: " + ReplayCommand(config, program) +
            " --trace";
  }
  return line;
}

std::string FormatProgress(const RunnerTotals& totals, uint64_t seeds) {
  return Format("progress: %llu of %llu seeds done, %llu failed, %.0f s", U(totals.seeds), U(seeds),
                U(totals.failed), totals.seconds);
}

std::string FormatTotals(std::string_view program, const RunnerTotals& totals) {
  const double seconds = std::max(totals.seconds, 1e-9);
  std::string line = Format(
      "%.*s: %llu seeds, %llu failed, %.1f s, %.1f seeds/s, %llu events (%.0f events/min), "
      "%llu heights decided by the slowest honest node in total, %llu crashes, %llu evidence, "
      "%llu guard refusals, %.0f simulated s",
      static_cast<int>(program.size()), program.data(), U(totals.seeds), U(totals.failed),
      totals.seconds, static_cast<double>(totals.seeds) / seconds, U(totals.events),
      static_cast<double>(totals.events) / seconds * 60.0, U(totals.heights), U(totals.crashes),
      U(totals.evidence), U(totals.guard_refusals),
      static_cast<double>(totals.simulated_ms) / 1000.0);
  if (totals.rules_activations + totals.rules_halts > 0) {
    line += Format(", %llu rules activations, %llu rules halts", U(totals.rules_activations),
                   U(totals.rules_halts));
  }
  return line;
}

}  // namespace vigil::sim
