#include "bench/etcd_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "common/assert.h"

namespace vigil::bench {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

constexpr std::string_view kLoopback = "127.0.0.1";
// Failures logged one by one before the rest are only counted.
constexpr uint64_t kFailuresLoggedMax = 10;
// Descriptors beyond the connections: etcd's log files, /dev/null, the caller's own.
constexpr size_t kSpareFileDescriptors = 64;
// --quota-backend-bytes: etcd's recommended maximum instead of its 2 GiB default, so a long
// bench does not end in "database space exceeded" (the quota is an alarm, not a tuning knob).
constexpr uint64_t kEtcdQuotaBackendBytes = uint64_t{8} << 30;
// Each health or version probe.
constexpr std::chrono::seconds kProbeTimeout{1};

std::string ErrnoText(int error) { return std::strerror(error); }

// --- Bytes and text. ---

void AppendBase64(std::string_view bytes, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = uint32_t{static_cast<uint8_t>(bytes[i])} << 16 |
                     uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8 |
                     static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[group >> 18];
    out += kAlphabet[(group >> 12) & 63];
    out += kAlphabet[(group >> 6) & 63];
    out += kAlphabet[group & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 0) return;
  uint32_t group = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
  if (rest == 2) group |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
  out += kAlphabet[group >> 18];
  out += kAlphabet[(group >> 12) & 63];
  out += rest == 2 ? kAlphabet[(group >> 6) & 63] : '=';
  out += '=';
}

void AppendNumber(uint64_t number, std::string& out) {
  std::array<char, 24> digits;
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), number);
  VIGIL_ASSERT(error == std::errc());
  out.append(digits.data(), end);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A short, printable excerpt of a reply body for an error message.
std::string Excerpt(std::string_view text) {
  constexpr size_t kExcerptBytes = 200;
  std::string out(text.substr(0, kExcerptBytes));
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

// --- HTTP framing. ---

Expected<size_t> ParseSize(std::string_view text, int base, std::string_view what) {
  size_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Fail(ErrorCode::kCorruption,
                fmt::format("HTTP response has a malformed {} '{}'", what, Excerpt(text)));
  }
  return value;
}

// The end of a chunked body starting at `position`, or std::nullopt if it is not all there.
Expected<std::optional<size_t>> ChunkedBodyEnd(std::string_view data, size_t position) {
  for (;;) {
    size_t line_end = data.find("\r\n", position);
    if (line_end == std::string_view::npos) return std::nullopt;
    std::string_view size_text = data.substr(position, line_end - position);
    size_text = Trim(size_text.substr(0, size_text.find(';')));  // drop chunk extensions
    VIGIL_ASSIGN_OR_RETURN(size_t size, ParseSize(size_text, 16, "chunk size"));
    if (size > kHttpResponseBytesMax) {
      return Fail(ErrorCode::kCorruption, fmt::format("HTTP chunk of {} bytes", size));
    }
    position = line_end + 2;
    if (size == 0) {
      // The last chunk, then optional trailer fields, then an empty line.
      if (data.substr(position).starts_with("\r\n")) return position + 2;
      size_t trailer_end = data.find("\r\n\r\n", position);
      if (trailer_end == std::string_view::npos) return std::nullopt;
      return trailer_end + 4;
    }
    if (data.size() < position + size + 2) return std::nullopt;
    if (data.substr(position + size, 2) != "\r\n") {
      return Fail(ErrorCode::kCorruption, "HTTP chunk is not followed by CRLF");
    }
    position += size + 2;
  }
}

// --- Processes. ---

std::optional<std::filesystem::path> FindEtcd() {
  if (const char* path = std::getenv("PATH")) {
    std::string_view directories = path;
    while (!directories.empty()) {
      size_t colon = directories.find(':');
      std::string_view directory = directories.substr(0, colon);
      directories = colon == std::string_view::npos ? "" : directories.substr(colon + 1);
      if (directory.empty()) continue;
      std::filesystem::path candidate = std::filesystem::path(directory) / "etcd";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  if (::access("/usr/bin/etcd", X_OK) == 0) return "/usr/bin/etcd";
  return std::nullopt;
}

// Ports free now. The sockets are held until all are chosen so no two are the same; another
// process may still take one before etcd binds it, which shows up as a member that does not
// become healthy ("address already in use" in its log).
Expected<std::vector<uint16_t>> FreeLoopbackPorts(size_t count) {
  std::vector<int> sockets;
  std::vector<uint16_t> ports;
  auto close_all = [&] {
    for (int socket : sockets) ::close(socket);
  };
  for (size_t i = 0; i < count; ++i) {
    int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (socket < 0 || ::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      int saved = errno;
      if (socket >= 0) ::close(socket);
      close_all();
      return Fail(ErrorCode::kIOError, "cannot find a free loopback port: " + ErrnoText(saved));
    }
    sockets.push_back(socket);
    ports.push_back(ntohs(address.sin_port));
  }
  close_all();
  return ports;
}

std::string LogTail(const std::filesystem::path& log) {
  std::ifstream file(log, std::ios::binary);
  if (!file) return "(no log at " + log.string() + ")";
  file.seekg(0, std::ios::end);
  std::streamoff size = file.tellg();
  std::streamoff start =
      std::max<std::streamoff>(0, size - static_cast<std::streamoff>(kEtcdLogTailBytes));
  file.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  file.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  if (start > 0 && tail.find('\n') != std::string::npos) tail.erase(0, tail.find('\n') + 1);
  return "last lines of " + log.string() + ":\n" + tail;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

// One GET with Connection: close over a blocking socket with timeouts; for probes only.
Expected<HttpReply> HttpGet(uint16_t port, std::string_view target) {
  int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket < 0) return Fail(ErrorCode::kIOError, "socket: " + ErrnoText(errno));
  struct Closer {
    int socket;
    ~Closer() { ::close(socket); }
  } closer{socket};
  timeval timeout{.tv_sec = kProbeTimeout.count(), .tv_usec = 0};
  ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string where = fmt::format("GET http://{}:{}{}", kLoopback, port, target);
  if (::connect(socket, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Fail(ErrorCode::kUnavailable, where + ": " + ErrnoText(errno));
  }
  std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
                                    target, kLoopback, port);
  if (::send(socket, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return Fail(ErrorCode::kUnavailable, where + ": send: " + ErrnoText(errno));
  }
  std::string response;
  std::array<char, 4096> buffer;
  for (;;) {
    ssize_t received = ::recv(socket, buffer.data(), buffer.size(), 0);
    if (received <= 0) {
      return Fail(ErrorCode::kUnavailable,
                  where + ": " + (received == 0 ? "connection closed" : ErrnoText(errno)) +
                      " before a whole response");
    }
    response.append(buffer.data(), static_cast<size_t>(received));
    VIGIL_ASSIGN_OR_RETURN(std::optional<HttpResponseHead> head, ParseHttpResponse(response));
    if (head) return HttpReply{head->status, HttpResponseBody(response, *head)};
  }
}

struct Member {
  std::string name;  // etcd-N
  std::filesystem::path data_directory;
  std::filesystem::path log;
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
  pid_t pid = -1;  // -1 once reaped
};

// The members of one cluster as child processes; stops them when destroyed.
class EtcdProcesses {
 public:
  EtcdProcesses() = default;
  EtcdProcesses(const EtcdProcesses&) = delete;
  EtcdProcesses& operator=(const EtcdProcesses&) = delete;
  ~EtcdProcesses() { Stop(); }

  Status Start(const std::filesystem::path& binary, const EtcdClusterSpec& spec);
  Status WaitHealthy();
  // The first member that has exited, as an error with its log's tail.
  Status CheckAlive();
  void Stop();
  const std::vector<Member>& members() const { return members_; }

 private:
  Status StartMember(const std::filesystem::path& binary, Member& member,
                     const std::vector<std::string>& arguments);
  std::vector<Member> members_;
};

Status EtcdProcesses::Start(const std::filesystem::path& binary, const EtcdClusterSpec& spec) {
  VIGIL_ASSIGN_OR_RETURN(std::vector<uint16_t> ports, FreeLoopbackPorts(2 * spec.members));
  std::string initial_cluster;
  for (size_t i = 0; i < spec.members; ++i) {
    Member member;
    member.name = "etcd-" + std::to_string(i + 1);
    member.data_directory = spec.directory / member.name;
    member.log = spec.directory / (member.name + ".log");
    member.client_port = ports[2 * i];
    member.peer_port = ports[2 * i + 1];
    if (!initial_cluster.empty()) initial_cluster += ',';
    initial_cluster += fmt::format("{}=http://{}:{}", member.name, kLoopback, member.peer_port);
    members_.push_back(std::move(member));
  }
  // A token of its own, so members of an earlier run that were somehow left behind cannot join.
  std::string token =
      fmt::format("vigil-bench-{}-{}", ::getpid(), Clock::now().time_since_epoch().count());
  for (Member& member : members_) {
    std::string client_url = fmt::format("http://{}:{}", kLoopback, member.client_port);
    std::string peer_url = fmt::format("http://{}:{}", kLoopback, member.peer_port);
    std::vector<std::string> arguments = {
        binary.string(),
        "--name=" + member.name,
        "--data-dir=" + member.data_directory.string(),
        "--listen-client-urls=" + client_url,
        "--advertise-client-urls=" + client_url,
        "--listen-peer-urls=" + peer_url,
        "--initial-advertise-peer-urls=" + peer_url,
        "--initial-cluster=" + initial_cluster,
        "--initial-cluster-token=" + token,
        "--initial-cluster-state=new",
        "--quota-backend-bytes=" + std::to_string(kEtcdQuotaBackendBytes),
        "--logger=zap",
        "--log-outputs=stderr",
    };
    if (!spec.durable) arguments.push_back("--unsafe-no-fsync");
    VIGIL_RETURN_IF_ERROR(StartMember(binary, member, arguments));
  }
  return Ok();
}

Status EtcdProcesses::StartMember(const std::filesystem::path& binary, Member& member,
                                  const std::vector<std::string>& arguments) {
  // Everything the child needs is prepared here: between fork and exec only async-signal-safe
  // calls are allowed (the caller may have other threads holding malloc's locks).
  std::vector<std::string> argument_storage = arguments;
  std::vector<char*> argv;
  for (std::string& argument : argument_storage) argv.push_back(argument.data());
  argv.push_back(nullptr);
  int log_fd = ::open(member.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Fail(ErrorCode::kIOError,
                "cannot open " + member.log.string() + ": " + ErrnoText(errno));
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Die with the bench: a killed bench must not leave members holding ports and disk.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  int fork_error = errno;
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) return Fail(ErrorCode::kIOError, "fork: " + ErrnoText(fork_error));
  member.pid = pid;
  return Ok();
}

Status EtcdProcesses::CheckAlive() {
  for (Member& member : members_) {
    if (member.pid < 0) {
      return Fail(ErrorCode::kUnavailable, member.name + " is not running; " + LogTail(member.log));
    }
    int status = 0;
    if (::waitpid(member.pid, &status, WNOHANG) == member.pid) {
      member.pid = -1;
      std::string how = WIFEXITED(status)
                            ? "exited with status " + std::to_string(WEXITSTATUS(status))
                            : "was killed by signal " + std::to_string(WTERMSIG(status));
      return Fail(ErrorCode::kUnavailable, member.name + " " + how + "; " + LogTail(member.log));
    }
  }
  return Ok();
}

Status EtcdProcesses::WaitHealthy() {
  auto deadline = Clock::now() + kEtcdHealthyTimeout;
  std::vector<bool> healthy(members_.size(), false);
  std::string last_answer;
  for (;;) {
    VIGIL_RETURN_IF_ERROR(CheckAlive());
    for (size_t i = 0; i < members_.size(); ++i) {
      if (healthy[i]) continue;
      // 200 {"health":"true"} once the member has a leader and no alarm (etcd 3.4).
      auto reply = HttpGet(members_[i].client_port, "/health");
      if (reply && reply->status == 200 &&
          reply->body.find(R"("health":"true")") != std::string::npos) {
        healthy[i] = true;
      } else {
        last_answer = members_[i].name + ": " +
                      (reply ? fmt::format("HTTP {} {}", reply->status, Excerpt(reply->body))
                             : reply.error().message());
      }
    }
    if (std::ranges::all_of(healthy, [](bool h) { return h; })) return Ok();
    if (Clock::now() >= deadline) {
      size_t sick = static_cast<size_t>(std::ranges::find(healthy, false) - healthy.begin());
      return Fail(
          ErrorCode::kUnavailable,
          fmt::format("etcd did not become healthy within {} s (last answer: {}); {}",
                      kEtcdHealthyTimeout.count(), last_answer, LogTail(members_[sick].log)));
    }
    std::this_thread::sleep_for(kEtcdHealthPollInterval);
  }
}

// One member at a time, waiting for each to exit. SIGTERM makes a leader hand its leadership
// to a connected follower first; when all members are signalled at once the followers are
// already gone, and the leader waits out a 5 s transfer timeout. In sequence every handover
// finds a live follower, and the last member has no peers left to hand over to.
void EtcdProcesses::Stop() {
  for (auto member = members_.rbegin(); member != members_.rend(); ++member) {
    if (member->pid <= 0) continue;
    ::kill(member->pid, SIGTERM);
    auto deadline = Clock::now() + kEtcdStopGrace;
    int status = 0;
    while (::waitpid(member->pid, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        spdlog::warn("bench etcd_stop_killed member={} grace_s={}", member->name,
                     kEtcdStopGrace.count());
        ::kill(member->pid, SIGKILL);
        ::waitpid(member->pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    member->pid = -1;
  }
}

// --- The load driver. ---

// Drives PUTs over keep-alive connections from one thread (the caller's), as described in
// load_stats.h. Each connection carries one request at a time; in the closed loop every
// connection sends its next request as soon as the reply arrives, in the open loop connections
// wait in a FIFO for the schedule (FIFO so every connection, and so every member, is used in
// turn, and none idles long enough for the server to drop it).
class PutDriver {
 public:
  PutDriver(const std::vector<uint16_t>& ports, const LoadSpec& load);
  Expected<LoadResult> Run();

 private:
  enum class State { kConnecting, kIdle, kBusy, kDone };
  struct Connection {
    Connection(asio::io_context& io, size_t member_index)
        : socket(io), timer(io), member(member_index) {}
    tcp::socket socket;
    asio::steady_timer timer;  // the delay before reconnecting
    size_t member;
    State state = State::kConnecting;
    std::string request;   // reused for every request
    std::string response;  // the reply so far
    std::array<char, 4096> read_buffer;
    Clock::time_point send_time;     // latency starts here (intended time in the open loop)
    Clock::time_point written_time;  // the request timeout starts here
    bool measured = false;           // sent within the window
    bool timed_out = false;          // closed by CheckTimeouts
  };

  bool open_loop() const { return schedule_.has_value(); }
  Clock::time_point Due(uint64_t index) const { return start_ + schedule_->Offset(index); }

  void Dispatch(Connection& connection);
  void WaitForSchedule(Connection& connection);
  void OnSchedule();
  void Send(Connection& connection, Clock::time_point send_time);
  void Read(Connection& connection);
  void OnResponse(Connection& connection, const HttpResponseHead& head);
  void OnFailure(Connection& connection, const std::string& reason);
  void Reconnect(Connection& connection);
  void Finish(Connection& connection);
  void CheckTimeouts();
  void SampleWindowCpu(Clock::time_point now);
  void NoteFailure(bool measured, const std::string& reason);

  LoadSpec load_;
  std::optional<SendSchedule> schedule_;
  asio::io_context io_;
  std::vector<tcp::endpoint> endpoints_;
  std::vector<std::string> request_prefixes_;  // per member: request line and fixed headers
  std::vector<std::string> values_base64_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::deque<Connection*> idle_;  // open loop: waiting for the schedule, oldest first
  asio::steady_timer schedule_timer_{io_};
  bool schedule_armed_ = false;
  asio::steady_timer timeout_timer_{io_};
  size_t active_connections_ = 0;  // not kDone

  Clock::time_point start_, window_start_, window_end_;
  uint64_t next_index_ = 0;  // the next request's number (and key)
  uint64_t submitted_ = 0, committed_ = 0, failed_ = 0, failures_total_ = 0;
  std::string first_failure_;
  LatencyRecorder latencies_;
  std::optional<double> cpu_window_start_, cpu_window_end_;
};

double ThreadCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto seconds = [](timeval time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

PutDriver::PutDriver(const std::vector<uint16_t>& ports, const LoadSpec& load) : load_(load) {
  if (load.offered_per_second > 0) schedule_.emplace(load.offered_per_second);
  for (uint16_t port : ports) {
    endpoints_.emplace_back(asio::ip::make_address_v4(kLoopback), port);
    request_prefixes_.push_back(
        fmt::format("POST /v3/kv/put HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
                    "Content-Length: ",
                    kLoopback, port));
  }
  std::mt19937_64 random(std::random_device{}());
  std::string value(load.value_bytes, '\0');
  for (size_t i = 0; i < kEtcdValuePoolSize; ++i) {
    for (char& byte : value) byte = static_cast<char>(random());
    std::string encoded;
    AppendBase64(value, encoded);
    values_base64_.push_back(std::move(encoded));
  }
}

Expected<LoadResult> PutDriver::Run() {
  for (size_t i = 0; i < load_.concurrency; ++i) {
    auto connection = std::make_unique<Connection>(io_, i % endpoints_.size());
    asio::error_code error;
    connection->socket.connect(endpoints_[connection->member], error);
    if (!error) connection->socket.set_option(tcp::no_delay(true), error);
    if (error) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("cannot connect to etcd at {}:{}: {}", kLoopback,
                              endpoints_[connection->member].port(), error.message()));
    }
    connections_.push_back(std::move(connection));
  }
  start_ = Clock::now();
  window_start_ = start_ + load_.warmup;
  window_end_ = window_start_ + load_.duration;
  active_connections_ = connections_.size();
  for (auto& connection : connections_) Dispatch(*connection);
  CheckTimeouts();
  io_.run();
  // An open loop can go quiet before the window closes (nothing more due): count to here.
  if (!cpu_window_start_) cpu_window_start_ = ThreadCpuSeconds();
  if (!cpu_window_end_) cpu_window_end_ = ThreadCpuSeconds();

  LoadResult result;
  result.submitted = submitted_;
  result.committed = committed_;
  result.failed = failed_;
  if (open_loop()) {
    uint64_t due_end = schedule_->FirstIndexAtOrAfter(window_end_ - start_);
    uint64_t due_start = schedule_->FirstIndexAtOrAfter(window_start_ - start_);
    uint64_t first_unsent = std::max(next_index_, due_start);
    result.not_sent = due_end > first_unsent ? due_end - first_unsent : 0;
  }
  result.seconds = std::chrono::duration<double>(load_.duration).count();
  result.throughput_per_second = static_cast<double>(committed_) / result.seconds;
  result.latency_p50_ms = latencies_.PercentileMs(0.5);
  result.latency_p99_ms = latencies_.PercentileMs(0.99);
  result.latency_max_ms = latencies_.MaxMs();
  if (cpu_window_start_ && cpu_window_end_) {
    result.driver_cpu_seconds = *cpu_window_end_ - *cpu_window_start_;
  }
  result.first_failure = first_failure_;
  return result;
}

void PutDriver::SampleWindowCpu(Clock::time_point now) {
  if (!cpu_window_start_ && now >= window_start_) cpu_window_start_ = ThreadCpuSeconds();
  if (!cpu_window_end_ && now >= window_end_) cpu_window_end_ = ThreadCpuSeconds();
}

void PutDriver::Dispatch(Connection& connection) {
  Clock::time_point now = Clock::now();
  SampleWindowCpu(now);
  if (now >= window_end_) return Finish(connection);
  // Closed under it by CheckTimeouts just as its reply arrived.
  if (!connection.socket.is_open()) return Reconnect(connection);
  if (!open_loop()) return Send(connection, now);
  if (Due(next_index_) >= window_end_) return Finish(connection);
  if (Due(next_index_) <= now) return Send(connection, Due(next_index_));
  WaitForSchedule(connection);
}

void PutDriver::WaitForSchedule(Connection& connection) {
  connection.state = State::kIdle;
  idle_.push_back(&connection);
  if (schedule_armed_) return;
  schedule_armed_ = true;
  schedule_timer_.expires_at(Due(next_index_));
  schedule_timer_.async_wait([this](const asio::error_code& error) {
    schedule_armed_ = false;
    if (!error) OnSchedule();
  });
}

void PutDriver::OnSchedule() {
  // Each idle connection takes the next due request; Dispatch re-arms the timer for the rest.
  size_t waiting = idle_.size();
  for (size_t i = 0; i < waiting && !idle_.empty(); ++i) {
    Connection* connection = idle_.front();
    idle_.pop_front();
    Dispatch(*connection);
    if (connection->state == State::kIdle) break;  // it went back to the queue: not due yet
  }
}

void PutDriver::Send(Connection& connection, Clock::time_point send_time) {
  uint64_t index = next_index_++;
  connection.state = State::kBusy;
  connection.send_time = send_time;
  connection.written_time = Clock::now();
  connection.measured = send_time >= window_start_;
  connection.timed_out = false;
  if (connection.measured) ++submitted_;

  // {"key":"<base64 of vigil-bench/NNNNNNNNNNNN>","value":"<base64 of value_bytes>"}
  std::array<char, 32> key;
  auto key_size = fmt::format_to_n(key.data(), key.size(), "vigil-bench/{:012}", index).size;
  const std::string& value = values_base64_[index % values_base64_.size()];
  std::string& request = connection.request;
  request.clear();
  size_t key_base64_bytes = (key_size + 2) / 3 * 4;
  uint64_t body_bytes = 8 + key_base64_bytes + 11 + value.size() + 2;
  request += request_prefixes_[connection.member];
  AppendNumber(body_bytes, request);
  request += "\r\n\r\n";
  size_t body_start = request.size();
  request += "{\"key\":\"";
  AppendBase64(std::string_view(key.data(), key_size), request);
  request += "\",\"value\":\"";
  request += value;
  request += "\"}";
  VIGIL_ASSERT(request.size() - body_start == body_bytes);

  asio::async_write(connection.socket, asio::buffer(request),
                    [this, &connection](const asio::error_code& error, size_t) {
                      if (error) return OnFailure(connection, "sending: " + error.message());
                      connection.response.clear();
                      Read(connection);
                    });
}

void PutDriver::Read(Connection& connection) {
  connection.socket.async_read_some(
      asio::buffer(connection.read_buffer),
      [this, &connection](const asio::error_code& error, size_t bytes) {
        if (error) {
          return OnFailure(connection, error == asio::error::eof
                                           ? "etcd closed the connection before replying"
                                           : "receiving: " + error.message());
        }
        connection.response.append(connection.read_buffer.data(), bytes);
        auto head = ParseHttpResponse(connection.response);
        if (!head) return OnFailure(connection, head.error().message());
        if (!*head) return Read(connection);
        if ((*head)->message_bytes != connection.response.size()) {
          return OnFailure(connection, "etcd sent bytes after its reply");
        }
        OnResponse(connection, **head);
      });
}

void PutDriver::OnResponse(Connection& connection, const HttpResponseHead& head) {
  if (head.status == 200) {
    if (connection.measured) {
      ++committed_;
      latencies_.Add(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                           connection.send_time));
    }
  } else {
    ++failures_total_;
    if (connection.measured) ++failed_;
    NoteFailure(connection.measured,
                fmt::format("HTTP {} {}", head.status,
                            Excerpt(HttpResponseBody(connection.response, head))));
  }
  if (head.keep_alive) return Dispatch(connection);
  // etcd closed this connection after its reply: not a failure, just open another.
  connection.socket.close();
  Reconnect(connection);
}

void PutDriver::OnFailure(Connection& connection, const std::string& reason) {
  std::string why = connection.timed_out
                        ? fmt::format("no reply within {} s", kEtcdRequestTimeout.count())
                        : reason;
  if (connection.state == State::kBusy) {
    ++failures_total_;
    if (connection.measured) ++failed_;
  }
  NoteFailure(connection.state == State::kBusy && connection.measured,
              fmt::format("etcd at port {}: {}", endpoints_[connection.member].port(), why));
  asio::error_code ignored;
  connection.socket.close(ignored);
  if (Clock::now() >= window_end_) return Finish(connection);
  connection.state = State::kConnecting;
  connection.timer.expires_after(kEtcdReconnectDelay);
  connection.timer.async_wait([this, &connection](const asio::error_code& error) {
    if (!error) Reconnect(connection);
  });
}

void PutDriver::NoteFailure(bool measured, const std::string& reason) {
  if (measured && first_failure_.empty()) first_failure_ = reason;
  if (failures_total_ <= kFailuresLoggedMax) {
    spdlog::warn("bench etcd_request_failed reason=\"{}\"", reason);
  }
}

void PutDriver::Reconnect(Connection& connection) {
  connection.state = State::kConnecting;
  connection.socket.async_connect(
      endpoints_[connection.member], [this, &connection](const asio::error_code& error) {
        if (error) return OnFailure(connection, "connecting: " + error.message());
        asio::error_code ignored;
        connection.socket.set_option(tcp::no_delay(true), ignored);
        Dispatch(connection);
      });
}

void PutDriver::Finish(Connection& connection) {
  connection.state = State::kDone;
  asio::error_code ignored;
  connection.socket.close(ignored);
  VIGIL_ASSERT(active_connections_ > 0);
  if (--active_connections_ == 0) {
    schedule_timer_.cancel();
    timeout_timer_.cancel();
  }
}

// Closes connections whose request has waited too long; their pending operation then fails
// and OnFailure counts the request. Also ends the drain after the window: a request still in
// flight kEtcdRequestTimeout after it was written is failed the same way.
void PutDriver::CheckTimeouts() {
  if (active_connections_ == 0) return;
  Clock::time_point now = Clock::now();
  SampleWindowCpu(now);
  for (auto& connection : connections_) {
    if (connection->state == State::kBusy && now - connection->written_time > kEtcdRequestTimeout) {
      connection->timed_out = true;
      asio::error_code ignored;
      connection->socket.close(ignored);
    }
  }
  // Idle open-loop connections after the window: nothing more is due, so they are done.
  if (now >= window_end_) {
    while (!idle_.empty()) {
      Connection* connection = idle_.front();
      idle_.pop_front();
      Finish(*connection);
    }
  }
  if (active_connections_ == 0) return;
  timeout_timer_.expires_after(kEtcdTimeoutCheckInterval);
  timeout_timer_.async_wait([this](const asio::error_code& error) {
    if (!error) CheckTimeouts();
  });
}

Status CheckSpec(const EtcdClusterSpec& cluster, const LoadSpec& load) {
  auto invalid = [](std::string message) { return Fail(ErrorCode::kInvalidArgument, message); };
  if (cluster.directory.empty()) return invalid("the etcd cluster needs a directory");
  if (cluster.members < 1 || cluster.members > kEtcdMembersMax) {
    return invalid(
        fmt::format("etcd members must be 1..{}, not {}", kEtcdMembersMax, cluster.members));
  }
  if (load.concurrency < 1 || load.concurrency > kLoadConcurrencyMax) {
    return invalid(
        fmt::format("concurrency must be 1..{}, not {}", kLoadConcurrencyMax, load.concurrency));
  }
  if (load.value_bytes > kLoadValueBytesMax) {
    return invalid(fmt::format("values of {} bytes are over the limit of {}", load.value_bytes,
                               kLoadValueBytesMax));
  }
  if (load.duration <= std::chrono::seconds(0) || load.duration > kLoadDurationMax ||
      load.warmup < std::chrono::seconds(0) || load.warmup > kLoadDurationMax) {
    return invalid(fmt::format("duration must be 1..{} s and warm-up 0..{} s",
                               kLoadDurationMax.count(), kLoadDurationMax.count()));
  }
  if (!(load.offered_per_second >= 0 && load.offered_per_second <= kLoadOfferedPerSecondMax)) {
    return invalid(fmt::format("offered load must be 0 (closed loop) up to {} /s, not {}",
                               kLoadOfferedPerSecondMax, load.offered_per_second));
  }
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < load.concurrency + kSpareFileDescriptors) {
    return invalid(
        fmt::format("{} connections need more file descriptors than the limit of {}; "
                    "raise it with `ulimit -n`",
                    load.concurrency, files.rlim_cur));
  }
  return Ok();
}

Status PrepareDirectory(const EtcdClusterSpec& cluster) {
  std::error_code error;
  std::filesystem::create_directories(cluster.directory, error);
  if (error) {
    return Fail(ErrorCode::kIOError,
                "cannot create " + cluster.directory.string() + ": " + error.message());
  }
  for (size_t i = 1; i <= cluster.members; ++i) {
    std::filesystem::path data = cluster.directory / ("etcd-" + std::to_string(i));
    if (std::filesystem::exists(data, error)) {
      return Fail(ErrorCode::kAlreadyExists,
                  data.string() +
                      " already holds an etcd member; give the etcd bench a fresh "
                      "directory (its members always start a new cluster)");
    }
  }
  return Ok();
}

// "3.4.23" from GET /version ({"etcdserver":"3.4.23","etcdcluster":"3.4.0"}), or "3.4".
std::string ServerVersion(uint16_t port) {
  auto reply = HttpGet(port, "/version");
  constexpr std::string_view kField = R"("etcdserver":")";
  if (!reply || reply->status != 200) return "3.4";
  size_t start = reply->body.find(kField);
  if (start == std::string::npos) return "3.4";
  start += kField.size();
  size_t end = reply->body.find('"', start);
  if (end == std::string::npos) return "3.4";
  return reply->body.substr(start, end - start);
}

}  // namespace

Expected<std::optional<HttpResponseHead>> ParseHttpResponse(std::string_view data) {
  size_t header_end = data.find("\r\n\r\n");
  if (header_end == std::string_view::npos) {
    if (data.size() > kHttpResponseBytesMax) {
      return Fail(ErrorCode::kCorruption, "HTTP response headers are too long");
    }
    return std::nullopt;
  }
  HttpResponseHead head;
  head.header_bytes = header_end + 4;
  std::string_view headers = data.substr(0, header_end);
  size_t line_end = std::min(headers.find("\r\n"), headers.size());
  std::string_view status_line = headers.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return Fail(ErrorCode::kCorruption, "not an HTTP/1.x response: '" + Excerpt(status_line) + "'");
  }
  VIGIL_ASSIGN_OR_RETURN(size_t status, ParseSize(status_line.substr(9, 3), 10, "status code"));
  head.status = static_cast<int>(status);
  head.keep_alive = status_line[7] != '0';  // HTTP/1.0 closes unless it says otherwise
  std::optional<size_t> content_length;
  while (line_end < headers.size()) {
    size_t start = line_end + 2;
    line_end = std::min(headers.find("\r\n", start), headers.size());
    std::string_view line = headers.substr(start, line_end - start);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return Fail(ErrorCode::kCorruption, "malformed HTTP header '" + Excerpt(line) + "'");
    }
    std::string_view name = Trim(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoringCase(name, "content-length")) {
      VIGIL_ASSIGN_OR_RETURN(content_length, ParseSize(value, 10, "Content-Length"));
    } else if (EqualsIgnoringCase(name, "transfer-encoding")) {
      head.chunked = EqualsIgnoringCase(value, "chunked");
      if (!head.chunked) {
        return Fail(ErrorCode::kCorruption,
                    "unsupported Transfer-Encoding '" + Excerpt(value) + "'");
      }
    } else if (EqualsIgnoringCase(name, "connection")) {
      if (EqualsIgnoringCase(value, "close")) head.keep_alive = false;
      if (EqualsIgnoringCase(value, "keep-alive")) head.keep_alive = true;
    }
  }
  bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
  if (no_body) {
    head.message_bytes = head.header_bytes;
  } else if (head.chunked) {
    VIGIL_ASSIGN_OR_RETURN(std::optional<size_t> end, ChunkedBodyEnd(data, head.header_bytes));
    if (!end) {
      if (data.size() > kHttpResponseBytesMax) {
        return Fail(ErrorCode::kCorruption, "HTTP response is too long");
      }
      return std::nullopt;
    }
    head.message_bytes = *end;
  } else if (content_length) {
    head.message_bytes = head.header_bytes + *content_length;
  } else {
    // Without a length the body would run to the end of the connection, which a keep-alive
    // client cannot use; etcd always sends one.
    return Fail(ErrorCode::kCorruption, "HTTP response has neither Content-Length nor chunks");
  }
  if (head.message_bytes > kHttpResponseBytesMax) {
    return Fail(ErrorCode::kCorruption,
                fmt::format("HTTP response of {} bytes is over the limit of {}", head.message_bytes,
                            kHttpResponseBytesMax));
  }
  if (data.size() < head.message_bytes) return std::nullopt;
  return head;
}

std::string HttpResponseBody(std::string_view message, const HttpResponseHead& head) {
  if (!head.chunked) {
    return std::string(message.substr(head.header_bytes, head.message_bytes - head.header_bytes));
  }
  std::string body;
  size_t position = head.header_bytes;
  for (;;) {
    size_t line_end = message.find("\r\n", position);
    if (line_end == std::string_view::npos) return body;
    std::string_view size_text = message.substr(position, line_end - position);
    size_t size = 0;
    std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size == 0) return body;
    body.append(message.substr(line_end + 2, size));
    position = line_end + 2 + size + 2;
  }
}

Expected<LoadResult> RunEtcdLoad(const EtcdClusterSpec& cluster, const LoadSpec& load) {
  VIGIL_RETURN_IF_ERROR(CheckSpec(cluster, load));
  std::optional<std::filesystem::path> binary = FindEtcd();
  if (!binary) {
    return Fail(ErrorCode::kUnavailable,
                "etcd is not installed (no etcd in PATH or /usr/bin): apt-get install etcd-server "
                "(or run scripts/install-deps)");
  }
  VIGIL_RETURN_IF_ERROR(PrepareDirectory(cluster));
  EtcdProcesses processes;
  VIGIL_RETURN_IF_ERROR(processes.Start(*binary, cluster));
  VIGIL_RETURN_IF_ERROR(processes.WaitHealthy());
  std::string version = ServerVersion(processes.members().front().client_port);
  spdlog::info("bench etcd_healthy members={} durable={} directory={}", cluster.members,
               cluster.durable, cluster.directory.string());

  std::vector<uint16_t> ports;
  for (const Member& member : processes.members()) ports.push_back(member.client_port);
  PutDriver driver(ports, load);
  VIGIL_ASSIGN_OR_RETURN(LoadResult result, driver.Run());
  // A member that died during the run makes the figures meaningless; say so instead.
  VIGIL_RETURN_IF_ERROR(processes.CheckAlive());
  processes.Stop();

  result.system = fmt::format("etcd {} ({} member{}{})", version, cluster.members,
                              cluster.members == 1 ? "" : "s", cluster.durable ? "" : ", no fsync");
  return result;
}

}  // namespace vigil::bench
