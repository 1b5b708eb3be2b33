// A unix datagram socket standing in for systemd's $NOTIFY_SOCKET in tests: bound to a path
// (or an abstract name written with a leading '@'), read without blocking.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace vigil::test_support {

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
      address.sun_path[0] = '\0';
    } else {
      length += 1;
    }
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0;
  }
  ~NotifySocket() { ::close(fd_); }
  bool bound() const { return bound_; }
  // Every datagram received so far, oldest first.
  std::vector<std::string> Read() {
    std::vector<std::string> messages;
    char buffer[4096];
    for (;;) {
      ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (got < 0) return messages;
      messages.emplace_back(buffer, static_cast<size_t>(got));
    }
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

}  // namespace vigil::test_support
