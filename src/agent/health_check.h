// Health checks of a freshly started app (docs/agent.md#health-checks).
//
// Three checks, combined with AND and run side by side; the first failure ends the whole
// check with its reason, and the others are abandoned:
//   - stay up: the app is still running `stay_up` after the check began (it did not exit);
//   - command: argv run in the slot directory exits 0 within `timeout`;
//   - port: 127.0.0.1:port accepts a TCP connection within `timeout` (tried again every
//     limits::kAgentHealthRetryInterval until then, since a server takes a while to listen).
// A spec with nothing in it passes at once.
//
// Thread-safety: on the io_context's thread; `done` is called exactly once, there.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "agent/process.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::agent {

struct HealthCheckSpec {
  std::chrono::milliseconds stay_up{0};
  std::vector<std::string> command;
  uint16_t tcp_port = 0;
  std::chrono::milliseconds timeout = limits::kAgentHealthTimeoutDefault;
  std::filesystem::path directory;  // the slot: the command's cwd
  Environment environment;          // the command's, as the app's (AppEnvironment)
};

// Answers "has the app exited since the check began, and how?" (nullopt: still running).
using AppExitProbe = std::function<std::optional<std::string>()>;

// Starts the checks; `done` gets Ok or an error whose message is the reason for the rollback
// report ("exited with code 1 after 212 ms", "port 8080 did not accept a connection within
// 5000 ms", "health command ./check exited with code 1").
void RunHealthCheck(asio::io_context& io_context, HealthCheckSpec spec, AppExitProbe app_exit,
                    std::function<void(Status)> done);

}  // namespace vigil::agent
