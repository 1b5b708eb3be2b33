#include "common/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/file.h"

namespace vigil {
namespace {

bool Alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

}  // namespace

Expected<pid_t> StartDaemon(const std::vector<std::string>& arguments,
                            const std::filesystem::path& log_file,
                            const std::filesystem::path& pid_file) {
  if (arguments.empty()) return Fail(ErrorCode::kInvalidArgument, "no program to start");
  if (auto running = RunningDaemon(pid_file)) {
    return Fail(ErrorCode::kAlreadyExists, pid_file.string() + " names a running process (pid " +
                                               std::to_string(*running) + ")");
  }
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> copies = arguments;
  std::vector<char*> argv;
  for (auto& argument : copies) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::string log = log_file.string();
  pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrorCode::kIOError, "fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::setsid();
    // A daemon starts with no signal blocked, whatever its starter blocked (`vigil demo` waits
    // for Ctrl-C on a thread of its own, with the signals blocked elsewhere).
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::string text = std::to_string(pid) + "\n";
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(pid_file, AsBytes(text), 0644));
  return pid;
}

std::optional<pid_t> RunningDaemon(const std::filesystem::path& pid_file) {
  auto bytes = ReadFile(pid_file, 64);
  if (!bytes) return std::nullopt;
  pid_t pid = static_cast<pid_t>(std::atol(std::string(bytes->begin(), bytes->end()).c_str()));
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) return std::nullopt;
  if (!Alive(pid)) return std::nullopt;
  return pid;
}

Status StopDaemon(const std::filesystem::path& pid_file, std::chrono::milliseconds grace,
                  bool kill_now) {
  auto pid = RunningDaemon(pid_file);
  if (pid) {
    ::kill(*pid, kill_now ? SIGKILL : SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
      int status = 0;
      pid_t reaped = ::waitpid(*pid, &status, WNOHANG);
      if (reaped == *pid || !Alive(*pid)) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(*pid, SIGKILL);
        ::waitpid(*pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::error_code ignored;
  std::filesystem::remove(pid_file, ignored);
  return Ok();
}

}  // namespace vigil
