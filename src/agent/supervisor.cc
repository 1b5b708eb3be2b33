#include "agent/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

// Reads one run's stdout and stderr until the app (and everything it started) closed them. The
// pending read owns the pump; the pump owns no handler, so there is no reference cycle.
class OutputPump : public std::enable_shared_from_this<OutputPump> {
 public:
  OutputPump(asio::posix::stream_descriptor pipe, std::function<void(const char*, size_t)> sink)
      : pipe_(std::move(pipe)), sink_(std::move(sink)), buffer_(limits::kAgentAppLogReadBytes) {}
  void Read() {
    pipe_.async_read_some(asio::buffer(buffer_),
                          [self = shared_from_this()](std::error_code error, size_t size) {
                            if (size > 0) self->sink_(self->buffer_.data(), size);
                            if (!error) self->Read();
                          });
  }

 private:
  asio::posix::stream_descriptor pipe_;
  std::function<void(const char*, size_t)> sink_;
  std::vector<char> buffer_;
};

}  // namespace

std::string CrashReport::ToString() const {
  std::string text = exit.ToString() + " after " + std::to_string(uptime.count()) + " ms; crash " +
                     std::to_string(consecutive_crashes) +
                     " since the last stable run; restart in " +
                     std::to_string(restart_delay.count()) + " ms";
  if (crash_loop) text += " (crash loop: restarts slowed down)";
  return text;
}

Supervisor::Supervisor(asio::io_context& io_context, SupervisorOptions options,
                       std::function<void(const CrashReport&)> on_crash)
    : io_context_(io_context),
      options_(std::move(options)),
      on_crash_(std::move(on_crash)),
      restart_timer_(io_context),
      grace_timer_(io_context) {}

Supervisor::~Supervisor() {
  *alive_ = false;
  if (child_) {
    child_.reset();  // SIGKILL to the group, reaped
    std::error_code ignored;
    std::filesystem::remove(options_.pid_path, ignored);
  }
  if (log_fd_ >= 0) ::close(log_fd_);
}

Status Supervisor::Start(Program program) {
  if (child_) {
    return Fail(ErrorCode::kInvalidArgument, "the app is still running; stop it first");
  }
  restart_timer_.cancel();
  program_ = std::move(program);
  consecutive_crashes_ = 0;
  recent_crashes_.clear();
  if (auto status = Spawn(); !status) {
    program_.reset();
    return status;
  }
  return Ok();
}

Status Supervisor::Spawn() {
  VIGIL_RETURN_IF_ERROR(OpenLog());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kIOError, std::string("pipe: ") + std::strerror(errno));
  }
  auto child = ChildProcess::Spawn(
      io_context_,
      {.argv = program_->argv,
       .directory = program_->directory,
       .output_fd = pipe_fds[1],
       .environment = program_->environment},
      [this, alive = alive_](ExitStatus exit) {
        if (*alive) OnExit(exit);
      });
  ::close(pipe_fds[1]);
  if (!child) {
    ::close(pipe_fds[0]);
    return std::unexpected(child.error());
  }
  child_ = std::move(*child);
  started_at_ = Clock::now();
  if (auto status = WritePidFile(options_.pid_path, child_->pid()); !status) {
    spdlog::warn("agent app_pid_file_failed path={} error={}", options_.pid_path.string(),
                 LogValue(status.error().ToString()));
  }
  // Each run drains its own pipe into its own buffer to the end, even after the next run has
  // started.
  auto pump = std::make_shared<OutputPump>(asio::posix::stream_descriptor(io_context_, pipe_fds[0]),
                                           [this, alive = alive_](const char* data, size_t size) {
                                             if (*alive) AppendLog(data, size);
                                           });
  pump->Read();
  return Ok();
}

void Supervisor::OnExit(ExitStatus exit) {
  // The ChildProcess is destroyed outside its own completion handler.
  asio::post(io_context_, [child = std::move(child_)]() {});
  grace_timer_.cancel();
  if (stop_done_) {
    std::error_code ignored;
    std::filesystem::remove(options_.pid_path, ignored);
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    done();
    return;
  }
  if (!program_) return;
  ++exits_;
  milliseconds uptime = Since(started_at_);
  if (uptime >= options_.stable_uptime) {
    consecutive_crashes_ = 0;
    recent_crashes_.clear();
  }
  ++consecutive_crashes_;
  auto now = Clock::now();
  recent_crashes_.push_back(now);
  while (!recent_crashes_.empty() && now - recent_crashes_.front() > options_.crash_loop_window) {
    recent_crashes_.pop_front();
  }
  // Bounded by the crash-loop threshold: older entries cannot change the verdict.
  while (recent_crashes_.size() > options_.crash_loop_restarts) recent_crashes_.pop_front();
  CrashReport report;
  report.exit = exit;
  report.uptime = uptime;
  report.consecutive_crashes = consecutive_crashes_;
  report.crash_loop = recent_crashes_.size() >= options_.crash_loop_restarts;
  if (report.crash_loop) {
    report.restart_delay = options_.crash_loop_retry_delay;
  } else {
    milliseconds delay = options_.restart_delay_initial;
    for (uint32_t i = 1; i < consecutive_crashes_ && delay < options_.restart_delay_max; ++i) {
      delay *= 2;
    }
    report.restart_delay = std::min(delay, options_.restart_delay_max);
  }
  last_crash_ = report;
  spdlog::warn("agent app_crashed directory={} report={}", program_->directory.string(),
               LogValue(report.ToString()));
  ScheduleRestart(report.restart_delay);
  if (on_crash_) on_crash_(report);
}

void Supervisor::ScheduleRestart(milliseconds delay) {
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([this, alive = alive_](std::error_code error) {
    if (!*alive || error || !program_ || child_) return;
    if (auto status = Spawn(); !status) {
      // A spawn failure counts as a crash: the same backoff and crash-loop rules apply.
      spdlog::warn("agent app_restart_failed error={}", LogValue(status.error().ToString()));
      started_at_ = Clock::now();
      OnExit(ExitStatus{.exit_code = 127, .signal = 0});
    }
  });
}

void Supervisor::Stop(std::function<void()> done) {
  program_.reset();
  restart_timer_.cancel();
  if (!child_) {
    asio::post(io_context_, std::move(done));
    return;
  }
  if (stop_done_) {
    stop_done_ = [first = std::move(stop_done_), second = std::move(done)]() {
      first();
      second();
    };
    return;
  }
  stop_done_ = std::move(done);
  child_->SignalGroup(SIGTERM);
  grace_timer_.expires_after(options_.stop_grace_period);
  grace_timer_.async_wait([this, alive = alive_](std::error_code error) {
    if (!*alive || error || !child_) return;
    spdlog::warn("agent app_stop_forced pid={} grace_ms={}", child_->pid(),
                 options_.stop_grace_period.count());
    child_->SignalGroup(SIGKILL);
  });
}

Status Supervisor::OpenLog() {
  if (log_fd_ >= 0) return Ok();
  log_fd_ = ::open(options_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd_ < 0) {
    return Fail(ErrorCode::kIOError,
                "opening " + options_.log_path.string() + ": " + std::strerror(errno));
  }
  struct stat info {};
  log_bytes_ = ::fstat(log_fd_, &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  return Ok();
}

void Supervisor::AppendLog(const char* data, size_t size) {
  if (log_fd_ < 0) return;
  if (size > options_.log_bytes_max) {  // one read larger than the cap: keep its newest part
    data += size - options_.log_bytes_max;
    size = options_.log_bytes_max;
  }
  if (log_bytes_ + size > options_.log_bytes_max) {
    ::close(log_fd_);
    log_fd_ = -1;
    std::error_code ignored;
    std::filesystem::rename(options_.log_path,
                            std::filesystem::path(options_.log_path.string() + ".1"), ignored);
    if (!OpenLog()) return;
  }
  // The app's output is diagnostics, not state: a short or failed write is dropped, never
  // retried (a full disk must not stall the agent).
  ssize_t written = ::write(log_fd_, data, size);
  if (written > 0) log_bytes_ += static_cast<uint64_t>(written);
}

}  // namespace vigil::agent
