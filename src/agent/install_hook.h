// Install hooks of a release (docs/agent.md#install-hooks): the manifest's pre_activate and
// post_activate commands, run by the updater in the new release's slot.
//
// A hook is argv run in the slot directory (like the health command: no shell, no PATH) with
// its stdout and stderr written to one file (truncated first), and a time limit: past it, its
// whole process group is killed and the hook counts as failed. When it fails (non-zero exit,
// a signal, the time limit, or it cannot start) the error's message says which hook, how it
// ended and the tail of its output (limits::kAgentHookOutputTailBytes, printable ASCII only so
// it fits a ledger reason), e.g.
//   "pre_activate hook ./migrate.sh exited with code 3: database is locked"
// An empty argv passes at once.
//
// Thread-safety: on the io_context's thread; `done` is called exactly once, there, unless the
// returned handle is destroyed first (which kills a hook still running and calls nothing).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "agent/process.h"
#include "common/error.h"
#include "common/limits.h"

namespace vigil::agent {

struct InstallHookSpec {
  std::string name;  // "pre_activate" or "post_activate", for the reason
  std::vector<std::string> argv;
  std::filesystem::path directory;    // the new slot: the hook's cwd
  std::filesystem::path output_path;  // stdout and stderr (AppLayout::hook_log)
  std::chrono::milliseconds timeout = limits::kAgentHookTimeout;
  Environment environment;  // the hook's, as the app's (AppEnvironment)
};

// Owns a hook in flight; destroying it kills the hook's group.
class InstallHookRun;
using InstallHookHandle = std::shared_ptr<InstallHookRun>;

InstallHookHandle RunInstallHook(asio::io_context& io_context, InstallHookSpec spec,
                                 std::function<void(Status)> done);

// The last `bytes_max` bytes of a file, with anything but printable ASCII turned into spaces
// and runs of spaces collapsed, trimmed ("" when the file is missing or empty).
std::string ReadOutputTail(const std::filesystem::path& path, size_t bytes_max);

}  // namespace vigil::agent
