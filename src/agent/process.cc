#include "agent/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "common/limits.h"

extern char** environ;

namespace vigil::agent {
namespace {

Error SystemError(std::string what, int error_number) {
  return Error(ErrorCode::kIOError, what + ": " + std::strerror(error_number));
}

// RAII for the spawn attribute and file-action objects.
struct SpawnSetup {
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
};

struct ProcessInfo {
  char state = '?';
  uint64_t start_time = 0;
};

std::optional<ProcessInfo> ReadProcessInfo(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  if (!file) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  ProcessInfo info;
  std::string field;
  for (int index = 3; index <= 22 && (fields >> field); ++index) {
    if (index == 3) info.state = field.empty() ? '?' : field[0];
    if (index == 22) info.start_time = std::strtoull(field.c_str(), nullptr, 10);
  }
  return info;
}

}  // namespace

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& base,
                                          const Environment& extra) {
  auto replaced = [&extra](const std::string& entry) {
    std::string_view name = std::string_view(entry).substr(0, entry.find('='));
    return std::ranges::any_of(extra, [name](const auto& variable) { return variable.first == name; });
  };
  std::vector<std::string> merged;
  merged.reserve(base.size() + extra.size());
  for (const std::string& entry : base) {
    if (!replaced(entry)) merged.push_back(entry);
  }
  for (const auto& [name, value] : extra) merged.push_back(name + "=" + value);
  return merged;
}

std::string ExitStatus::ToString() const {
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  }
  return "exited with code " + std::to_string(exit_code);
}

Expected<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    asio::io_context& io_context, const SpawnOptions& options,
    std::function<void(ExitStatus)> on_exit) {
  if (options.argv.empty()) return Fail(ErrorCode::kInvalidArgument, "empty command");
  // The manifest's rule: argv[0] is absolute or names a file of the release (relative to the
  // slot). No PATH search: what runs is exactly what the manifest root covers, or a path the
  // publisher spelled out.
  std::string program = options.argv[0];
  if (program.front() != '/') program = (options.directory / program).string();

  SpawnSetup setup;
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&setup.attributes, &signals);
  // Every signal the agent ignores or handles goes back to its default in the child (an app
  // that inherits an ignored SIGPIPE or SIGTERM behaves differently from one started by hand).
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&setup.attributes, &signals);
  posix_spawnattr_setpgroup(&setup.attributes, 0);
  posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  if (options.output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&setup.actions, options.output_fd, 1);
    posix_spawn_file_actions_adddup2(&setup.actions, options.output_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&setup.actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&setup.actions, 2, "/dev/null", O_WRONLY, 0);
  }
  // Nothing of the agent's (keys, sockets, the ledger connection) leaks into the app.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  posix_spawn_file_actions_addchdir_np(&setup.actions, options.directory.c_str());

  std::vector<char*> argv;
  argv.push_back(program.data());
  std::vector<std::string> rest(options.argv.begin() + 1, options.argv.end());
  for (std::string& argument : rest) argv.push_back(argument.data());
  argv.push_back(nullptr);

  std::vector<std::string> agent_environment;
  for (char** entry = environ; *entry != nullptr; ++entry) agent_environment.emplace_back(*entry);
  std::vector<std::string> environment = MergeEnvironment(agent_environment, options.environment);
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int result = posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attributes,
                           argv.data(), envp.data());
  if (result != 0) {
    return std::unexpected(
        SystemError("starting " + options.argv[0] + " in " + options.directory.string(), result));
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int error_number = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return std::unexpected(SystemError("pidfd_open (Linux 5.3 or later is required)",
                                       error_number));
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess(io_context, pid, pidfd));
  child->WaitForExit(std::move(on_exit));
  return child;
}

ChildProcess::ChildProcess(asio::io_context& io_context, pid_t pid, int pidfd)
    : pid_(pid), pidfd_(io_context, pidfd) {}

ChildProcess::~ChildProcess() {
  *alive_ = false;
  if (!exited_) {
    SignalGroup(SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::SignalGroup(int signal) const { ::kill(-pid_, signal); }

void ChildProcess::WaitForExit(std::function<void(ExitStatus)> on_exit) {
  pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                    [this, alive = alive_, on_exit = std::move(on_exit)](std::error_code error) mutable {
                      if (!*alive || error) return;
                      int status = 0;
                      // Never blocks the loop: a readiness the child's exit did not cause (asio
                      // can hand a stale event of a just-destroyed descriptor to the one that
                      // took its reactor slot) is waited out again.
                      pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
                      if (reaped == 0) return WaitForExit(std::move(on_exit));
                      if (reaped != pid_) return;
                      exited_ = true;
                      // The leader is gone; whatever it left in its group goes with it.
                      SignalGroup(SIGKILL);
                      ExitStatus exit;
                      if (WIFSIGNALED(status)) {
                        exit.signal = WTERMSIG(status);
                      } else {
                        exit.exit_code = WEXITSTATUS(status);
                      }
                      on_exit(exit);
                    });
}

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto info = ReadProcessInfo(pid);
  if (!info) return std::nullopt;
  return info->start_time;
}

Status WritePidFile(const std::filesystem::path& path, pid_t pid) {
  auto start = ProcessStartTime(pid);
  std::string text = std::to_string(pid) + " " + std::to_string(start.value_or(0)) + "\n";
  return WriteFileAtomically(path, AsBytes(text), 0644);
}

Status KillLeftoverGroup(const std::filesystem::path& pid_path, std::chrono::milliseconds grace) {
  if (!std::filesystem::exists(pid_path)) return Ok();
  VIGIL_ASSIGN_OR_RETURN(Bytes bytes, ReadFile(pid_path, 64));
  std::istringstream text(std::string(bytes.begin(), bytes.end()));
  long long pid_value = 0;
  unsigned long long start_time = 0;
  if (!(text >> pid_value >> start_time) || pid_value <= 1 || pid_value > INT32_MAX) {
    std::filesystem::remove(pid_path);
    return Ok();  // unreadable: nothing we can safely signal
  }
  auto pid = static_cast<pid_t>(pid_value);
  auto info = ReadProcessInfo(pid);
  if (info && info->start_time != start_time) {
    // The pid belongs to another process now, which the kernel allows only once our whole
    // group is gone (a pid in use as a group id is never handed out).
  } else if (info && info->state != 'Z') {
    ::kill(-pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      auto now_info = ReadProcessInfo(pid);
      if (!now_info || now_info->state == 'Z' || now_info->start_time != start_time) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid, SIGKILL);
  } else {
    // The leader is gone (or a zombie nobody reaped); members of its group may remain.
    ::kill(-pid, SIGKILL);
  }
  std::error_code ignored;
  std::filesystem::remove(pid_path, ignored);
  return SyncDirectory(pid_path.parent_path());
}

}  // namespace vigil::agent
