// Child processes of the agent: the app and its health command (docs/agent.md#supervisor).
//
// A child is spawned with posix_spawn (no fork of a multi-threaded agent: nothing runs
// between fork and exec but the C library's own code) into its own process group, with cwd set
// to its slot directory, default signal dispositions and an empty signal mask, stdin from
// /dev/null and stdout/stderr to the given descriptor, and the agent's environment with the
// given variables added (or replaced). Its exit is observed through a pidfd
// (Linux 5.3+): the descriptor becomes readable when the child exits, so Asio can wait on it
// like on a socket and no SIGCHLD handler is needed (a handler would race with every other
// library in the process that forks); waitpid then reaps exactly that child.
//
// Thread-safety: a ChildProcess is used by one thread (the agent's io_context).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "common/error.h"

namespace vigil::agent {

// How a child ended, from waitpid's status.
struct ExitStatus {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // 0 when it exited
  std::string ToString() const;  // "exited with code 3", "killed by signal 9 (Killed)"
  bool success() const { return exit_code == 0 && signal == 0; }
};

// Variables set in a child's environment on top of the agent's: name → value.
using Environment = std::vector<std::pair<std::string, std::string>>;

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0]: absolute, or relative to `directory` (no PATH)
  std::filesystem::path directory;
  int output_fd = -1;  // stdout and stderr; -1: /dev/null
  Environment environment;
};

// `base` ("NAME=value" strings, as in `environ`) with `extra` added; a name in `extra` replaces
// the same name in `base`. Pure (process.cc passes `environ`).
std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const Environment& extra);

class ChildProcess {
 public:
  // Spawns the child and opens its pidfd; the exit is reported once to `on_exit` (on the
  // io_context's thread) after the child is reaped. `on_exit` is not called after Abandon().
  static Expected<std::unique_ptr<ChildProcess>> Spawn(asio::io_context& io_context,
                                                       const SpawnOptions& options,
                                                       std::function<void(ExitStatus)> on_exit);
  ~ChildProcess();  // kills the group and reaps the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }  // also the process group id
  bool exited() const { return exited_; }
  // Signals the whole process group (the app's own children too).
  void SignalGroup(int signal) const;

 private:
  ChildProcess(asio::io_context& io_context, pid_t pid, int pidfd);
  void WaitForExit(std::function<void(ExitStatus)> on_exit);

  pid_t pid_;
  asio::posix::stream_descriptor pidfd_;
  bool exited_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Process start time (field 22 of /proc/<pid>/stat, clock ticks since boot), or nullopt when
// the process does not exist. With the pid it names one process for good (pids are reused).
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// The app's pid file (<root>/apps/<app>/app.pid): "pid start_time". Written when the app
// starts and removed when it is stopped, so after a kill -9 of the agent the next agent can
// stop the app the dead one left running (KillLeftoverGroup).
Status WritePidFile(const std::filesystem::path& path, pid_t pid);
// If the pid file names a process group still alive (the same process, or members of its group
// after the leader died), sends it SIGTERM, waits up to `grace`, then SIGKILL; removes the file.
// Blocking: called once at start-up, before the event loop runs the app again.
Status KillLeftoverGroup(const std::filesystem::path& pid_path, std::chrono::milliseconds grace);

}  // namespace vigil::agent
