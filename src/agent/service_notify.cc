#include "agent/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/limits.h"
#include "common/log.h"

namespace vigil {

std::optional<std::chrono::microseconds> WatchdogKeepAlivePeriod(const char* watchdog_usec,
                                                                 const char* watchdog_pid,
                                                                 pid_t own_pid) {
  if (watchdog_usec == nullptr) return std::nullopt;
  std::string_view text(watchdog_usec);
  uint64_t usec = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), usec);
  if (error != std::errc() || end != text.data() + text.size() || usec < 2) return std::nullopt;
  if (watchdog_pid != nullptr) {
    std::string_view pid_text(watchdog_pid);
    long long pid = 0;
    auto [pid_end, pid_error] =
        std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (pid_error != std::errc() || pid_end != pid_text.data() + pid_text.size() ||
        pid != own_pid) {
      return std::nullopt;
    }
  }
  return std::chrono::microseconds(static_cast<int64_t>(usec / 2));
}

Status NotifyServiceManager(std::string_view message) {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr || socket_name[0] == '\0') return Ok();
  std::string name(socket_name);
  if (message.size() > limits::kServiceNotifyMessageBytesMax) {
    return Fail(ErrorCode::kInvalidArgument, "notify message too long");
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (name.size() >= sizeof(address.sun_path) || (name[0] != '/' && name[0] != '@')) {
    return Fail(ErrorCode::kInvalidArgument, "NOTIFY_SOCKET " + name + " is not a socket path");
  }
  std::memcpy(address.sun_path, name.data(), name.size());
  if (name[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                             (name[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kIOError, std::string("socket: ") + std::strerror(errno));
  // Never blocks the event loop: a service manager that does not read its socket (its queue
  // full) costs one lost message, reported as an error, not a daemon stuck in sendto.
  ssize_t sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                          reinterpret_cast<const sockaddr*>(&address), length);
  int saved = errno;
  ::close(fd);
  if (sent != static_cast<ssize_t>(message.size())) {
    return Fail(ErrorCode::kIOError,
                "NOTIFY_SOCKET " + name + ": " + std::string(std::strerror(saved)));
  }
  return Ok();
}

ServiceNotifier::ServiceNotifier(asio::io_context& io_context) : timer_(io_context) {}

ServiceNotifier::~ServiceNotifier() {
  *alive_ = false;
  timer_.cancel();
}

void ServiceNotifier::Ready(std::string_view status) {
  std::string message = "READY=1\nSTATUS=" + std::string(status);
  if (Status sent = NotifyServiceManager(message); !sent) {
    spdlog::warn("service_notify_failed error={}", LogValue(sent.error().ToString()));
  }
  period_ = WatchdogKeepAlivePeriod(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                                    ::getpid());
  if (period_) KeepAlive();
}

void ServiceNotifier::Stopping() {
  period_.reset();
  timer_.cancel();
  (void)NotifyServiceManager("STOPPING=1");
}

void ServiceNotifier::KeepAlive() {
  if (Status sent = NotifyServiceManager("WATCHDOG=1"); !sent) {
    spdlog::warn("service_watchdog_failed error={}", LogValue(sent.error().ToString()));
  }
  timer_.expires_after(*period_);
  timer_.async_wait([this, alive = alive_](std::error_code error) {
    if (!*alive || error || !period_) return;
    KeepAlive();
  });
}

}  // namespace vigil
