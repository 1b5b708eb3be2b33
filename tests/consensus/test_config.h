// The consensus configuration shared by the rule-by-rule and the scenario tests: short
// timeouts (the simulator's), so expected timer durations in tests stay small and readable.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "consensus/consensus.h"

namespace vigil::consensus {

inline Config TestConfig(std::string_view chain_id) {
  Config config;
  config.chain_id = std::string(chain_id);
  config.timeout_propose = std::chrono::milliseconds(300);
  config.timeout_prevote = std::chrono::milliseconds(100);
  config.timeout_precommit = std::chrono::milliseconds(100);
  config.timeout_delta = std::chrono::milliseconds(50);
  return config;
}

}  // namespace vigil::consensus
