// Vigil daemons run as child processes of a launcher (`vigil cluster up`, `vigil demo`, the
// multi-process tests and system benchmarks): each in its own session, its output appended to
// a log file, its pid in a pid file so a later command (`vigil cluster down`) finds it.
//
//   VIGIL_ASSIGN_OR_RETURN(pid_t pid, StartDaemon({vigil, "gateway", "--config", path},
//                                                 dir / "gateway.log", dir / "gateway.pid"));
//   ...
//   VIGIL_RETURN_IF_ERROR(StopDaemon(dir / "gateway.pid"));  // SIGTERM, grace, SIGKILL
//
// Thread-safety: functions touch processes and files; call them from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil {

// Forks and execs `arguments` (arguments[0] is the binary's path, no PATH search), refusing
// when `pid_file` names a live process. Records the pid in `pid_file`.
Expected<pid_t> StartDaemon(const std::vector<std::string>& arguments,
                            const std::filesystem::path& log_file,
                            const std::filesystem::path& pid_file);

// The pid in `pid_file` if that process is alive (an exited child of ours is reaped first, so
// a zombie does not count).
std::optional<pid_t> RunningDaemon(const std::filesystem::path& pid_file);

// SIGTERM (or SIGKILL with `kill_now`), SIGKILL after `grace`; reaps our child; removes the
// pid file. A daemon that is not running is not an error.
Status StopDaemon(const std::filesystem::path& pid_file,
                  std::chrono::milliseconds grace = std::chrono::milliseconds(5000),
                  bool kill_now = false);

}  // namespace vigil
