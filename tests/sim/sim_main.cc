// consensus_sim: runs the deterministic consensus simulator over one seed or many.
//
//   consensus_sim --seed 42                      one run, verbose summary
//   consensus_sim --seeds 2000 --first-seed 1    many runs; prints every failing seed with the
//                                                one command that replays it
//   consensus_sim --seed 42 --trace              every event of one run, to stderr
//   consensus_sim --seeds 100000 --jobs 2 --progress 10000   a long run with progress lines
//
// Exit status: 0 when every run passed every checker, 1 otherwise, 2 on bad arguments.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sim/simulator.h"

namespace {

using vigil::sim::SimConfig;
using vigil::sim::SimResult;

int Usage(const std::string& problem) {
  std::fprintf(stderr,
               "consensus_sim: %s\n"
               "usage: consensus_sim [--seed S | --seeds N [--first-seed S]] [--nodes N]\n"
               "                     [--faults none|mixed|drop,delay,duplicate,partition,clog,"
               "crash,skew,byzantine]\n"
               "                     [--byzantine K] [--fault-ms MS] [--jobs J] [--verbose] "
               "[--trace] [--progress N] [--weighted]\n",
               problem.c_str());
  return 2;
}

bool ParseNumber(const char* text, uint64_t& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtoull(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  SimConfig base;
  base.faults = vigil::sim::Faults::Parse("mixed").value();
  uint64_t first_seed = 1;
  uint64_t seeds = 1;
  uint64_t jobs = 1;
  bool single = false;
  bool verbose = false;
  uint64_t progress_every = 0;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto number = [&](uint64_t& value) { return i + 1 < argc && ParseNumber(argv[++i], value); };
    uint64_t value = 0;
    if (flag == "--seed" && number(value)) {
      first_seed = value;
      seeds = 1;
      single = true;
    } else if (flag == "--seeds" && number(value) && value > 0) {
      seeds = value;
    } else if (flag == "--first-seed" && number(value)) {
      first_seed = value;
    } else if (flag == "--nodes" && number(value) && value >= 1 && value <= 64) {
      base.nodes = static_cast<uint32_t>(value);
    } else if (flag == "--byzantine" && number(value)) {
      base.byzantine_nodes = static_cast<int>(value);
    } else if (flag == "--fault-ms" && number(value)) {
      base.fault_phase_ms = static_cast<int64_t>(value);
    } else if (flag == "--jobs" && number(value) && value >= 1 && value <= 64) {
      jobs = value;
    } else if (flag == "--faults" && i + 1 < argc) {
      auto faults = vigil::sim::Faults::Parse(argv[++i]);
      if (!faults) return Usage(faults.error().message());
      base.faults = *faults;
    } else if (flag == "--progress" && number(value)) {
      progress_every = value;
    } else if (flag == "--weighted") {
      base.weighted = true;
    } else if (flag == "--verbose") {
      verbose = true;
    } else if (flag == "--trace") {
      base.trace = true;
    } else if (flag == "--sabotage-forget-state") {
      base.sabotage_forget_state = true;
    } else {
      return Usage("bad or incomplete argument '" + flag + "'");
    }
  }
  if (base.byzantine_nodes > static_cast<int>((base.nodes - 1) / 3)) {
    return Usage("--byzantine may be at most f = (nodes - 1) / 3");
  }
  if (single) verbose = true;

  std::printf("consensus_sim: seeds %llu..%llu, %u nodes, faults %s, %llu job(s)\n",
              static_cast<unsigned long long>(first_seed),
              static_cast<unsigned long long>(first_seed + seeds - 1), base.nodes,
              base.faults.ToString().c_str(), static_cast<unsigned long long>(jobs));
  std::fflush(stdout);

  const auto started = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{0};
  std::mutex mutex;
  uint64_t failed = 0;
  uint64_t done = 0;
  uint64_t events = 0;
  uint64_t heights = 0;
  uint64_t crashes = 0;
  uint64_t evidence = 0;
  uint64_t refusals = 0;
  int64_t simulated_ms = 0;
  auto worker = [&]() {
    for (uint64_t offset = next++; offset < seeds; offset = next++) {
      SimConfig config = base;
      config.seed = first_seed + offset;
      SimResult result = vigil::sim::RunSimulation(config);
      std::lock_guard lock(mutex);
      events += result.events;
      heights += result.min_honest_height;
      crashes += result.crashes;
      evidence += result.evidence_found;
      refusals += result.guard_refusals;
      simulated_ms += result.simulated_ms;
      if (verbose || !result.ok) {
        std::printf(
            "%s seed=%llu events=%llu heights=%llu max_round=%llu crashes=%llu "
            "evidence=%llu byzantine=%s simulated_ms=%lld%s%s\n",
            result.ok ? "ok  " : "FAIL", static_cast<unsigned long long>(result.seed),
            static_cast<unsigned long long>(result.events),
            static_cast<unsigned long long>(result.min_honest_height),
            static_cast<unsigned long long>(result.max_round),
            static_cast<unsigned long long>(result.crashes),
            static_cast<unsigned long long>(result.evidence_found),
            result.byzantine.empty() ? "-" : result.byzantine.c_str(),
            static_cast<long long>(result.simulated_ms), result.ok ? "" : "\n     ",
            result.failure.c_str());
        if (!result.ok) {
          std::printf("     replay: %s --trace\n", vigil::sim::ReplayCommand(config).c_str());
        }
        std::fflush(stdout);
      }
      if (!result.ok) ++failed;
      ++done;
      if (progress_every > 0 && done % progress_every == 0) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::printf("progress: %llu of %llu seeds done, %llu failed, %.0f s\n",
                    static_cast<unsigned long long>(done), static_cast<unsigned long long>(seeds),
                    static_cast<unsigned long long>(failed), elapsed);
        std::fflush(stdout);
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint64_t j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (auto& thread : threads) thread.join();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "consensus_sim: %llu seeds, %llu failed, %.1f s, %.1f seeds/s, %llu events "
      "(%.0f events/min), %llu heights decided by the slowest honest node in total, "
      "%llu crashes, %llu evidence, %llu guard refusals, %.0f simulated s\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failed), seconds,
      static_cast<double>(seeds) / seconds, static_cast<unsigned long long>(events),
      static_cast<double>(events) / seconds * 60.0, static_cast<unsigned long long>(heights),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(evidence),
      static_cast<unsigned long long>(refusals), static_cast<double>(simulated_ms) / 1000.0);
  return failed == 0 ? 0 : 1;
}
