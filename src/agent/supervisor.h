// The app supervisor: keeps one app running from its slot, always (docs/agent.md#supervisor).
//
// Start(program) spawns the app (process.h: own process group, cwd = slot directory) with
// its stdout and stderr piped into the agent, which appends them to `log_path` and rotates the
// file to `<log_path>.1` beyond `log_bytes_max` (two files bound the disk an app's output
// takes). When the app exits without being asked to, the supervisor reports the crash (exit
// code or signal, uptime) to `on_crash` and starts it again after a delay that doubles from
// restart_delay_initial up to restart_delay_max, and starts over once a run lasted
// stable_uptime. `crash_loop_restarts` crashes within `crash_loop_window` is a crash loop: it
// is reported (CrashReport::crash_loop) and restarts slow down to crash_loop_retry_delay until
// a run is stable again — a broken app is retried forever, but without hammering the device.
//
// Stop() sends SIGTERM to the group, waits stop_grace_period, then sends SIGKILL, and calls
// `done` once the app is reaped (immediately when nothing runs).
//
// The pid file (process.h) lets the next agent stop an app that this one left running when it
// was killed.
//
// Thread-safety: everything on the io_context's thread, callbacks included.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "agent/process.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::agent {

struct SupervisorOptions {
  std::filesystem::path log_path;  // app.log
  std::filesystem::path pid_path;  // app.pid
  uint64_t log_bytes_max = limits::kAgentAppLogBytesMax;
  std::chrono::milliseconds restart_delay_initial = limits::kAgentRestartDelayInitial;
  std::chrono::milliseconds restart_delay_max = limits::kAgentRestartDelayMax;
  std::chrono::milliseconds stable_uptime = limits::kAgentStableUptime;
  uint32_t crash_loop_restarts = limits::kAgentCrashLoopRestarts;
  std::chrono::milliseconds crash_loop_window = limits::kAgentCrashLoopWindow;
  std::chrono::milliseconds crash_loop_retry_delay = limits::kAgentCrashLoopRetryDelay;
  std::chrono::milliseconds stop_grace_period = limits::kAgentStopGracePeriod;
};

struct Program {
  std::filesystem::path directory;  // the slot
  std::vector<std::string> argv;    // the manifest's entry
  Environment environment;          // AppEnvironment (slots.h)
  friend bool operator==(const Program&, const Program&) = default;
};

struct CrashReport {
  ExitStatus exit;
  std::chrono::milliseconds uptime{0};
  uint32_t consecutive_crashes = 0;  // since the last stable run
  std::chrono::milliseconds restart_delay{0};
  bool crash_loop = false;
  // "exited with code 3 after 120 ms; crash 2 since the last stable run; restart in 1000 ms"
  std::string ToString() const;
};

class Supervisor {
 public:
  Supervisor(asio::io_context& io_context, SupervisorOptions options,
             std::function<void(const CrashReport&)> on_crash);
  ~Supervisor();  // kills the app's group without a grace period
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `program` from now on (a running app is not touched: Stop first). An error means the
  // first spawn failed (no such entry, not executable); nothing is supervised then.
  Status Start(Program program);
  void Stop(std::function<void()> done);

  bool running() const { return child_ != nullptr; }
  bool supervising() const { return program_.has_value(); }
  const std::optional<Program>& program() const { return program_; }
  // Exits of the app since it was supervised (crashes; Stop does not count). The health check
  // compares it before and after its stay-up window.
  uint64_t exits() const { return exits_; }
  const std::optional<CrashReport>& last_crash() const { return last_crash_; }

 private:
  Status Spawn();
  void OnExit(ExitStatus exit);
  void ScheduleRestart(std::chrono::milliseconds delay);
  Status OpenLog();
  void AppendLog(const char* data, size_t size);

  asio::io_context& io_context_;
  SupervisorOptions options_;
  std::function<void(const CrashReport&)> on_crash_;
  std::optional<Program> program_;
  std::unique_ptr<ChildProcess> child_;
  int log_fd_ = -1;
  uint64_t log_bytes_ = 0;
  asio::steady_timer restart_timer_;
  asio::steady_timer grace_timer_;
  std::chrono::steady_clock::time_point started_at_{};
  std::deque<std::chrono::steady_clock::time_point> recent_crashes_;
  uint32_t consecutive_crashes_ = 0;
  uint64_t exits_ = 0;
  std::optional<CrashReport> last_crash_;
  std::function<void()> stop_done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::agent
