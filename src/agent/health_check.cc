#include "agent/health_check.h"

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <memory>

#include "agent/process.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

std::string Ms(milliseconds duration) { return std::to_string(duration.count()) + " ms"; }

// One check in progress. Every pending handler holds it; Finish cancels them all.
class HealthRun : public std::enable_shared_from_this<HealthRun> {
 public:
  HealthRun(asio::io_context& io_context, HealthCheckSpec spec, AppExitProbe app_exit,
            std::function<void(Status)> done)
      : io_context_(io_context),
        spec_(std::move(spec)),
        app_exit_(std::move(app_exit)),
        done_(std::move(done)),
        poll_timer_(io_context),
        deadline_timer_(io_context),
        port_timer_(io_context),
        socket_(io_context) {}

  void Begin() {
    started_ = std::chrono::steady_clock::now();
    pending_ = 1 + (spec_.command.empty() ? 0 : 1) + (spec_.tcp_port == 0 ? 0 : 1);
    if (!spec_.command.empty() || spec_.tcp_port != 0) {
      deadline_timer_.expires_after(spec_.timeout);
      deadline_timer_.async_wait([self = shared_from_this()](std::error_code error) {
        if (error) return;
        std::string what = self->command_passed_ || self->spec_.command.empty()
                               ? "port " + std::to_string(self->spec_.tcp_port) +
                                     " did not accept a connection"
                               : "health command " + self->spec_.command[0] + " did not finish";
        self->Finish(Fail(ErrorCode::kTimeout, what + " within " + Ms(self->spec_.timeout)));
      });
    }
    Poll();
    if (!spec_.command.empty()) StartCommand();
    if (spec_.tcp_port != 0) TryPort();
  }

 private:
  // The app must not exit while any check runs; stay-up passes once its window is over.
  void Poll() {
    if (finished_) return;
    if (auto exit = app_exit_ ? app_exit_() : std::nullopt; exit.has_value()) {
      Finish(Fail(ErrorCode::kUnavailable, "the app " + *exit + " " +
                                               Ms(Elapsed()) + " into its health check"));
      return;
    }
    if (!stay_up_passed_ && Elapsed() >= spec_.stay_up) {
      stay_up_passed_ = true;
      Pass();
      if (finished_) return;
    }
    poll_timer_.expires_after(limits::kAgentHealthRetryInterval);
    poll_timer_.async_wait([self = shared_from_this()](std::error_code error) {
      if (!error) self->Poll();
    });
  }

  void StartCommand() {
    auto child = ChildProcess::Spawn(
        io_context_,
        {.argv = spec_.command,
         .directory = spec_.directory,
         .output_fd = -1,
         .environment = spec_.environment},
        [self = shared_from_this()](ExitStatus exit) {
          if (self->finished_) return;
          if (!exit.success()) {
            self->Finish(Fail(ErrorCode::kUnavailable,
                              "health command " + self->spec_.command[0] + " " + exit.ToString()));
            return;
          }
          self->command_passed_ = true;
          self->Pass();
        });
    if (!child) {
      Finish(std::unexpected(child.error().WithContext("health command")));
      return;
    }
    command_ = std::move(*child);
  }

  void TryPort() {
    if (finished_) return;
    std::error_code ignored;
    socket_.close(ignored);
    asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), spec_.tcp_port);
    socket_.async_connect(endpoint, [self = shared_from_this()](std::error_code error) {
      if (self->finished_) return;
      if (!error) {
        std::error_code ignored_close;
        self->socket_.close(ignored_close);
        self->Pass();
        return;
      }
      self->port_timer_.expires_after(limits::kAgentHealthRetryInterval);
      self->port_timer_.async_wait([self](std::error_code timer_error) {
        if (!timer_error) self->TryPort();
      });
    });
  }

  void Pass() {
    if (--pending_ == 0) Finish(Ok());
  }

  void Finish(Status status) {
    if (finished_) return;
    finished_ = true;
    poll_timer_.cancel();
    deadline_timer_.cancel();
    port_timer_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
    command_.reset();  // kills a command still running
    auto done = std::move(done_);
    done(std::move(status));
  }

  milliseconds Elapsed() const {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
  }

  asio::io_context& io_context_;
  HealthCheckSpec spec_;
  AppExitProbe app_exit_;
  std::function<void(Status)> done_;
  asio::steady_timer poll_timer_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer port_timer_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<ChildProcess> command_;
  std::chrono::steady_clock::time_point started_{};
  int pending_ = 0;
  bool stay_up_passed_ = false;
  bool command_passed_ = false;
  bool finished_ = false;
};

}  // namespace

void RunHealthCheck(asio::io_context& io_context, HealthCheckSpec spec, AppExitProbe app_exit,
                    std::function<void(Status)> done) {
  auto run = std::make_shared<HealthRun>(io_context, std::move(spec), std::move(app_exit),
                                         std::move(done));
  run->Begin();
}

}  // namespace vigil::agent
