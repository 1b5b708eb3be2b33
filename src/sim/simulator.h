// Deterministic cluster simulator for consensus (docs/testing.md).
//
// Many Consensus nodes in one process, one thread, over a simulated network and clock, all
// driven by one seeded PRNG (std::mt19937_64, explicitly seeded; no std::random_device, no
// wall clock): the same seed replays the same run event for event. A discrete-event queue
// ordered by (time, sequence number) delivers messages and fires timers.
//
// Faults, active until `fault_phase_ms`: the network drops, delays, duplicates and reorders
// messages, partitions and heals, and clogs single links; nodes crash (at any point of
// executing a Ready, so unsynced writes are lost) and restart from what they persisted; clocks
// run fast or slow and are offset; up to f Byzantine validators equivocate (two proposals, two
// different votes), send invalid signatures, or stay silent. After the fault phase the network
// heals, crashed nodes restart, and the liveness checker starts its clock.
//
// Checkers (any violation ends the run with a message):
//   agreement    no two honest nodes decide different values at one height;
//   no double    no honest node signs two different proposals or votes for one
//   signing      (height, round, step), across crashes included;
//   state        the per-node application state (a SHA-256 hash chain of decided values)
//                agrees at every height;
//   certificate  every decision carries a commit certificate that verifies;
//   liveness     after faults stop, every honest node decides `progress_heights` more
//                heights within `liveness_bound_ms`;
//   rules        with `rules_activations`: every honest node first executes under each rules
//   activation   version at exactly the height its decided activation scheduled, and never
//                executes a block under a version its binary lacks.
//
// Rules activations (`rules_activations`, docs/testing.md#rules-activations): at heights drawn
// from the seed, proposers put "activate rules version V from height H" in their values
// (V = 2, 3, ...; H two or three heights ahead). Each node executes decided values against its
// own ledger::RulesRecord with the ledger's own functions (ledger::RulesVersionAt,
// ledger::RulesAfterActivation), and folds the version in force and the record into its state
// hash. Before starting a height it asks ledger::CheckRulesAvailable, as a peer daemon does:
// a node whose binary lacks the version halts there (`rules_halting_node`) until upgraded.
//
// Thread-safety: a Simulation is single-threaded; separate Simulations share nothing and may
// run on separate threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::sim {

// Which fault families a run draws from.
struct Faults {
  bool drop = false;
  bool delay = false;  // long delays, hence reordering
  bool duplicate = false;
  bool partition = false;
  bool clog = false;
  bool crash = false;
  bool clock_skew = false;
  bool byzantine = false;

  // "none", "mixed" (all of them) or a comma list of the names above ("drop,crash").
  static Expected<Faults> Parse(std::string_view text);
  std::string ToString() const;
};

// What a Byzantine validator does; `kMixed` picks per message.
enum class ByzantineMode : uint8_t { kEquivocate, kInvalidSignature, kSilent, kMixed };

struct SimConfig {
  uint64_t seed = 1;
  uint32_t nodes = 4;
  Faults faults;
  // Byzantine validators when faults.byzantine is set; at most f = (nodes - 1) / 3. -1 draws
  // 0..f from the seed.
  int byzantine_nodes = -1;
  // Validators get voting powers 1-10 from the seed (otherwise all 1); Byzantine validators
  // then hold less than 1/3 of the total power, whatever their count.
  bool weighted = false;
  // Faults are injected during [0, fault_phase_ms) of simulated time.
  int64_t fault_phase_ms = 4000;
  // After the fault phase every honest node must decide this many more heights ...
  uint64_t progress_heights = 3;
  // ... within this much simulated time.
  int64_t liveness_bound_ms = 60'000;
  // Wait after a decision before starting the next height (CometBFT's timeout_commit).
  int64_t block_interval_ms = 250;
  int64_t gossip_interval_ms = 200;
  // Safety valve on the event loop; reaching it is a failure (a livelock or a storm).
  uint64_t events_max = 2'000'000;
  // Rules activations (see above): kSimRulesActivations of them, versions 2, 3, ..., proposed
  // at heights drawn from the seed. Drawn from a PRNG of their own, so a run with them has the
  // same faults as the same seed without.
  bool rules_activations = false;
  // With rules_activations: one honest node, drawn from the seed, runs a binary without the
  // newest version (like `vigil peer --max-rules-version`). It halts before the first block
  // under that version with the ledger's message, stays down (no fault restarts it), and
  // 0.5-3 s of simulated time later is upgraded: restarted from its persisted state with every
  // version. It must catch up with the same state hashes. The halted node counts against f,
  // so such a run has at most f - 1 Byzantine validators.
  bool rules_halting_node = false;
  // Checker self-test: honest nodes forget their persisted consensus state on restart, which
  // must eventually be caught as double signing. Never set outside tests.
  bool sabotage_forget_state = false;
  // Checker self-test: one honest node executes each rules activation one height late, which
  // the rules-activation checker must report. Needs rules_activations. Never set outside tests.
  bool sabotage_late_activation = false;
  bool trace = false;  // print every event to stderr
};

struct SimResult {
  bool ok = true;
  std::string failure;  // which checker, what it saw
  uint64_t seed = 0;
  uint64_t events = 0;  // simulation steps: deliveries, timers, ticks, crashes
  uint64_t messages_sent = 0;
  uint64_t min_honest_height = 0;  // decided heights, lowest honest node
  uint64_t max_round = 0;          // highest round any honest node decided in
  uint64_t crashes = 0;
  uint64_t evidence_found = 0;  // conflicting-vote evidence held by honest nodes
  uint64_t guard_refusals = 0;  // signatures refused by the restart guard (honest nodes)
  int64_t simulated_ms = 0;
  std::string byzantine;  // e.g. "1:equivocate"
  // Rules versions some honest node executed a block under, beyond version 1.
  uint64_t rules_versions_activated = 0;
  uint64_t rules_halts = 0;        // nodes that halted for a missing rules version
  std::string rules_halt_message;  // the first halt's: ledger::CheckRulesAvailable's message
};

// Rules activations per run with SimConfig::rules_activations: versions 2 .. this + 1.
inline constexpr uint32_t kSimRulesActivations = 3;

SimResult RunSimulation(const SimConfig& config);

// The one command that replays `config` exactly; `program` is how the caller was invoked
// ("consensus_sim", or "vigil sim" once the CLI exposes the simulator).
std::string ReplayCommand(const SimConfig& config, std::string_view program = "consensus_sim");

}  // namespace vigil::sim
