// The systemd service-manager protocol (used by `vigil agent`, `vigil gateway`, `vigil peer`)
// (sd_notify(3)), for `Type=notify` units with a watchdog (deploy/vigil-*.service,
// docs/agent.md#running-under-systemd).
//
// The protocol is the documented datagram one, spoken directly: a message such as "READY=1"
// or "WATCHDOG=1" is one datagram to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading '@'). Without $NOTIFY_SOCKET (not started by systemd)
// every call does nothing. libsystemd is not needed for these two messages.
//
// `ServiceNotifier` sends READY=1 once the daemon has started, then WATCHDOG=1 from the Asio
// loop at half of $WATCHDOG_USEC: when the loop is stuck, the keep-alives stop and systemd
// kills and restarts the service (WatchdogSec= in the unit).
//
// Thread-safety: NotifyServiceManager is thread-safe; a ServiceNotifier belongs to the
// io_context's thread.
#pragma once

#include <sys/types.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "common/error.h"

namespace vigil {

// The keep-alive period for $WATCHDOG_USEC and $WATCHDOG_PID (pure): half the watchdog
// timeout; nullopt when there is no watchdog, the value is not a positive number, or
// WATCHDOG_PID names another process.
std::optional<std::chrono::microseconds> WatchdogKeepAlivePeriod(const char* watchdog_usec,
                                                                 const char* watchdog_pid,
                                                                 pid_t own_pid);

// Sends `message` to $NOTIFY_SOCKET without blocking. Ok (and nothing sent) when the variable
// is unset; an error naming the socket when it is set but the datagram cannot be sent (no
// socket, or its queue is full: the manager is not reading).
Status NotifyServiceManager(std::string_view message);

class ServiceNotifier {
 public:
  explicit ServiceNotifier(asio::io_context& io_context);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 (with STATUS=`status`), and the watchdog keep-alives when systemd asked for them.
  void Ready(std::string_view status);
  // STOPPING=1: the daemon is shutting down (keep-alives stop).
  void Stopping();
  std::optional<std::chrono::microseconds> keep_alive_period() const { return period_; }

 private:
  void KeepAlive();

  asio::steady_timer timer_;
  std::optional<std::chrono::microseconds> period_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil
